//! Authorisation decisions in flight. Without an HTTP callback the verdict is ready at once
//! and applied in the same turn; with one, the session waits (reading stops, so TCP
//! back-pressure holds the client) while the connection keeps writing and serving its
//! other streams, until the verdict arrives.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use openrtmp_proto::session::RequestId;

use crate::auth::{Auth, AuthAction, AuthRequest, Verdict};

/// What a decision is about.
#[derive(Debug)]
pub(crate) enum Asked {
    Connect {
        request: RequestId,
        flash_ver: String,
        enhanced: bool,
    },
    Publish {
        request: RequestId,
        stream_id: u32,
    },
    /// `range`: `play`'s start and duration, for a recording (VOD).
    Play {
        request: RequestId,
        stream_id: u32,
        range: crate::vod::PlayRange,
    },
}

/// The app and tcUrl exactly as the client's `connect` sent them (a key or token may be
/// in their query): publish and play are authorised against them too.
#[derive(Debug)]
pub(crate) struct Asker {
    pub(crate) connect_app: String,
    pub(crate) tc_url: Option<String>,
    pub(crate) peer: SocketAddr,
    pub(crate) conn_id: u64,
    /// The relay chain its `connect` announced (`openrtmpVia`; empty for a direct client).
    pub(crate) via: crate::relay::Chain,
}

impl Asker {
    pub(crate) fn new(peer: SocketAddr, conn_id: u64) -> Asker {
        Asker {
            connect_app: String::new(),
            tc_url: None,
            peer,
            conn_id,
            via: crate::relay::Chain::default(),
        }
    }

    /// A `connect`: remembers its app and tcUrl (later requests are authorised against
    /// them too) and asks about the connection.
    pub(crate) fn connect(
        &mut self,
        request: RequestId,
        command: Box<openrtmp_proto::command::ConnectCommand>,
    ) -> (Asked, AuthRequest) {
        let flash_ver = command.flash_ver.unwrap_or_default();
        let enhanced = command.enhanced.is_enhanced();
        let via = command.command_object.get(crate::relay::VIA_PROPERTY).and_then(|v| v.as_str());
        self.via = crate::relay::Chain::parse(via);
        self.connect_app = command.app;
        self.tc_url = command.tc_url;
        (Asked::Connect { request, flash_ver, enhanced }, self.request(AuthAction::Connect, None))
    }

    /// A request about this connection, with `stream` for publish and play.
    pub(crate) fn request(&self, action: AuthAction, stream: Option<String>) -> AuthRequest {
        AuthRequest {
            action,
            app: self.connect_app.clone(),
            stream,
            tc_url: self.tc_url.clone(),
            peer: self.peer,
            conn_id: self.conn_id,
        }
    }
}

/// The cluster's part of a publish decision: once authorisation allowed it, the stream is
/// claimed in the directory (`Publish.Start` waits for a dead owner's lease up to
/// `cluster.claim_wait`; a live owner elsewhere refuses it).
pub(crate) struct ClaimStep {
    pub(crate) cluster: Arc<crate::cluster::Cluster>,
    /// Where an edge's pull of the stream is handed over once the claim is won.
    pub(crate) relay: Arc<crate::relay::Relay>,
    /// The connection's app, as authorised.
    pub(crate) app: String,
    /// `streams.replace_publisher`: the claim takes the stream from any owner.
    pub(crate) takeover: bool,
}

impl ClaimStep {
    async fn apply(self, verdict: Verdict) -> Verdict {
        let Verdict::Allow { stream: Some(name), .. } = &verdict else { return verdict };
        let name = name.split('?').next().unwrap_or_default().trim_matches('/');
        if name.is_empty() {
            return verdict;
        }
        let key = openrtmp_hub::StreamKey::new(self.app.clone(), name);
        match self.cluster.claim(&key, self.takeover).await {
            Ok(_) => {
                self.relay.hand_over(&key).await;
                verdict
            }
            Err(refused) => Verdict::Deny(crate::auth::Denial {
                kind: crate::auth::DenyKind::BadName,
                reason: refused.to_string(),
            }),
        }
    }
}

/// At most one decision in flight (the session asks one at a time: it stops handling
/// input while it waits).
#[derive(Default)]
pub(crate) struct Decisions {
    pending: Option<(Asked, BoxFuture<'static, Verdict>)>,
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decisions").field("pending", &self.pending.as_ref().map(|p| &p.0)).finish()
    }
}

impl Decisions {
    /// Asks `auth` (and, for an allowed publish, the cluster: `claim`); returns the
    /// verdict when it is ready now, else keeps it in flight.
    pub(crate) fn ask(
        &mut self,
        auth: &Arc<Auth>,
        asked: Asked,
        req: AuthRequest,
        claim: Option<ClaimStep>,
    ) -> Option<(Asked, Verdict)> {
        let verdict = auth.authorize(req);
        let mut verdict = match claim {
            Some(step) if matches!(asked, Asked::Publish { .. }) => {
                async move { step.apply(verdict.await).await }.boxed()
            }
            _ => verdict.boxed(),
        };
        match (&mut verdict).now_or_never() {
            Some(v) => Some((asked, v)),
            None => {
                self.pending = Some((asked, verdict));
                None
            }
        }
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Resolves with the decision in flight once its verdict arrives (never, when there is
    /// none). Cancel-safe: the decision stays in flight until it resolves.
    pub(crate) async fn decided(&mut self) -> (Asked, Verdict) {
        let Some((_, verdict)) = &mut self.pending else {
            return std::future::pending().await;
        };
        let verdict = verdict.await;
        match self.pending.take() {
            Some((asked, _)) => (asked, verdict),
            None => std::future::pending().await,
        }
    }
}
