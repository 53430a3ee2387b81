//! The Redis directory of a build without the `redis` cargo feature: the type stays (the
//! public API does not depend on features), its constructor fails, and no value of it can
//! exist.

use openrtmp_hub::StreamKey;

use super::super::directory::{
    Claim, DirectoryError, DirectoryFuture, HeartbeatReply, Lease, NodeRecord, OwnedStream, Route,
};

/// No value: [`Store::open`] always fails.
#[derive(Debug)]
pub(super) enum Store {}

impl Store {
    pub(super) fn open(_url: &str, _prefix: &str) -> Result<Store, DirectoryError> {
        Err(DirectoryError::Protocol(
            "this build has no Redis directory (cargo feature `redis`)".into(),
        ))
    }

    pub(super) fn heartbeat<'a>(
        &'a self,
        _lease: &'a Lease,
        _owned: &'a [OwnedStream],
    ) -> DirectoryFuture<'a, HeartbeatReply> {
        match *self {}
    }

    pub(super) fn claim<'a>(
        &'a self,
        _lease: &'a Lease,
        _key: &'a StreamKey,
        _takeover: bool,
    ) -> DirectoryFuture<'a, Claim> {
        match *self {}
    }

    pub(super) fn release<'a>(
        &'a self,
        _lease: &'a Lease,
        _key: &'a StreamKey,
        _epoch: u64,
    ) -> DirectoryFuture<'a, ()> {
        match *self {}
    }

    pub(super) fn resolve<'a>(&'a self, _key: &'a StreamKey) -> DirectoryFuture<'a, Option<Route>> {
        match *self {}
    }

    pub(super) fn nodes(&self) -> DirectoryFuture<'_, Vec<NodeRecord>> {
        match *self {}
    }

    pub(super) fn leave<'a>(&'a self, _lease: &'a Lease) -> DirectoryFuture<'a, ()> {
        match *self {}
    }
}
