//! A lean tokio driver for one [`ClientSession`] over a [`TcpStream`].
//!
//! `openrtmp_client::Connection` is the general-purpose driver; this one is cut for a
//! thousand concurrent players on one core: no boxed transport and no per-connection read
//! buffer. Reads wait for readiness, then `try_read` into one buffer per thread and feed
//! the session before the buffer is released, so a connection holds only its session and
//! socket (see design.md "Performance model"). Writes are vectored from the session's
//! [`ChunkOutput`](openrtmp_proto::chunk::ChunkOutput).

use std::cell::RefCell;
use std::io::{ErrorKind, IoSlice};
use std::net::{IpAddr, SocketAddr};

use openrtmp_proto::session::{ClientConfig, ClientEvent, ClientSession};
use rand::RngCore;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::error::ConnError;

/// Size of the per-thread read buffer: large enough for several 4 KiB chunks per read.
const READ_BUF_LEN: usize = 64 * 1024;
/// Most slices handed to one vectored write (Linux takes up to 1024).
const MAX_IO_SLICES: usize = 64;

thread_local! {
    /// Shared by every connection driven on this thread; borrowed only between a
    /// `try_read` and the end of `handle_input`, never across an await.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF_LEN]);
}

/// Where to connect: host, port, application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Application (first path segment).
    pub app: String,
    /// `tcUrl` for connect.
    pub tc_url: String,
}

/// A connected RTMP client connection (handshake and `connect` done).
#[derive(Debug)]
pub struct RtmpConn {
    tcp: TcpStream,
    session: ClientSession,
}

/// Connects from `source` (any port) to the first address of `target` in its family.
async fn connect_from(source: IpAddr, target: &Target) -> std::io::Result<TcpStream> {
    let remote = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await?
        .find(|a| a.is_ipv4() == source.is_ipv4())
        .ok_or_else(|| std::io::Error::new(ErrorKind::NotFound, "no address to connect to"))?;
    let socket = if source.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(remote).await
}

impl RtmpConn {
    /// TCP connect, handshake, `connect` to the application. Not bounded in time: the
    /// caller wraps it in a timeout.
    /// With `source`, the socket is bound to that local address first.
    pub async fn open(
        target: &Target,
        chunk_size: u32,
        source: Option<IpAddr>,
    ) -> Result<Self, ConnError> {
        let addr = || format!("{}:{}", target.host, target.port);
        let tcp = match source {
            None => TcpStream::connect((target.host.as_str(), target.port)).await,
            Some(source) => connect_from(source, target).await,
        }
        .map_err(|source| ConnError::Connect { addr: addr(), source })?;
        // Media must not wait for Nagle: latency is what we measure.
        tcp.set_nodelay(true)?;
        let mut config = ClientConfig::new(target.app.clone(), target.tc_url.clone());
        config.chunk_size = chunk_size;
        let mut random = [0u8; 1536];
        rand::thread_rng().fill_bytes(&mut random);
        let session = ClientSession::new(config, 0, &random);
        let mut conn = RtmpConn { tcp, session };
        conn.flush().await?;
        loop {
            if let ClientEvent::Connected { .. } = conn.next_event().await? {
                return Ok(conn);
            }
        }
    }

    /// The protocol session.
    pub fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    /// Bytes queued for the server.
    pub fn queued(&mut self) -> usize {
        self.session.transmit().len()
    }

    /// Writes everything the session has queued.
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        loop {
            let out = self.session.transmit();
            if out.is_empty() {
                return Ok(());
            }
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
                let n = out.io_slices(&mut slices);
                self.tcp.write_vectored(slices.get(..n).unwrap_or_default()).await?
            };
            if written == 0 {
                return Err(ConnError::Closed);
            }
            self.session.transmit().advance(written);
        }
    }

    /// Writes what the socket takes without waiting; returns whether all was written.
    pub fn try_flush(&mut self) -> Result<bool, ConnError> {
        loop {
            let out = self.session.transmit();
            if out.is_empty() {
                return Ok(true);
            }
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
                let n = out.io_slices(&mut slices);
                self.tcp.try_write_vectored(slices.get(..n).unwrap_or_default())
            };
            match written {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => self.session.transmit().advance(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits until the socket may take more bytes (cancel-safe).
    pub async fn writable(&self) -> Result<(), ConnError> {
        Ok(self.tcp.writable().await?)
    }

    /// Waits until the socket has input (cancel-safe); follow with [`try_read`](Self::try_read).
    pub async fn readable(&self) -> Result<(), ConnError> {
        Ok(self.tcp.readable().await?)
    }

    /// Waits for input and feeds one read of it to the session (cancel-safe: nothing is
    /// read until the wait is over). `Err(Closed)` at end of stream.
    pub async fn read_some(&mut self) -> Result<(), ConnError> {
        loop {
            self.tcp.readable().await?;
            if self.try_read()? {
                return Ok(());
            }
        }
    }

    /// Feeds what can be read without waiting to the session; returns whether anything
    /// was read. `Err(Closed)` at end of stream.
    pub fn try_read(&mut self) -> Result<bool, ConnError> {
        let (tcp, session) = (&self.tcp, &mut self.session);
        READ_BUF.with_borrow_mut(|buf| match tcp.try_read(buf) {
            Ok(0) => Err(ConnError::Closed),
            Ok(n) => {
                session.handle_input(buf.get(..n).unwrap_or_default())?;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e.into()),
        })
    }

    /// The next event, flushing queued output and reading as needed.
    pub async fn next_event(&mut self) -> Result<ClientEvent, ConnError> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(event);
            }
            self.flush().await?;
            self.read_some().await?;
        }
    }
}
