//! From an accepted socket to a running connection: admission (limits decided at accept,
//! or after a trusted load balancer's PROXY header names the client), the wait for the
//! first bytes (a socket that sends nothing costs a small task and its
//! kernel buffers, no session and no read buffer), the TLS or ACME handshake, then the
//! connection's own loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::socket::{SharedRead, SharedWrite};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::{field, Instrument};

use crate::config::Config;
use crate::connection::{directive_close, Close, Connection, Ended};
use crate::limit::ConnectionGuard;
use crate::shared::Shared;

use super::proxy;

/// Connections over a limit that are still accepted, so that the RTMP `_error` explaining
/// the refusal reaches honest clients; past these, sockets are closed at accept.
pub(crate) const REFUSAL_SLOTS: usize = 16;
/// Refusals at accept are logged at most this often per listener (with the count).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a new connection must be refused after its `connect` (with an RTMP `_error`).
pub(crate) fn admission(
    config: &Config,
    shared: &Shared,
    peer: SocketAddr,
    total: usize,
    from_ip: usize,
) -> Option<String> {
    if total > config.max_connections {
        let max = config.max_connections;
        return Some(format!("server connection limit reached ({max} connections)"));
    }
    if from_ip > config.max_connections_per_ip {
        let (ip, max) = (peer.ip(), config.max_connections_per_ip);
        return Some(format!("too many connections from {ip} (limit {max})"));
    }
    let used = shared.hub.memory_bytes();
    if used > config.memory_budget {
        let budget = config.memory_budget;
        return Some(format!("server memory budget exhausted ({used} of {budget} bytes)"));
    }
    None
}

/// Rate-limited logging of sockets closed at accept.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    last_log: Option<Instant>,
    unlogged: u64,
}

impl Refusals {
    pub(crate) fn refused(&mut self, peer: SocketAddr, total: usize, from_ip: usize) {
        self.unlogged += 1;
        let now = Instant::now();
        if self.last_log.is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_EVERY) {
            tracing::warn!(
                %peer,
                total,
                from_ip,
                refused = self.unlogged,
                "connections closed at accept: over the connection limits"
            );
            self.last_log = Some(now);
            self.unlogged = 0;
        }
    }
}

/// What the accept loop decided about a connection; it holds the connection's place in the
/// connection counts for its life.
pub(crate) enum Admission {
    /// Decided at accept, for the socket's peer: refuse `connect` with this reason, or not.
    Decided { refuse: Option<String>, guard: ConnectionGuard },
    /// The peer is a trusted load balancer: the PROXY header names the client, and the
    /// per-IP limit and admission are decided for it once the header is read.
    AfterProxyHeader { guard: ConnectionGuard },
}

/// One accepted connection, from the first byte to its end.
pub(crate) async fn connection_task(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    peer: SocketAddr,
    conn_id: u64,
    shared: Arc<Shared>,
    admitted: Admission,
) {
    // `peer` is recorded once known: the client a PROXY header names, if any.
    let span = tracing::info_span!(
        "conn",
        conn_id,
        peer = field::Empty,
        via_proxy = field::Empty,
        proto = if tls.is_some() { "rtmps" } else { "rtmp" },
        app = field::Empty,
        stream = field::Empty,
        role = field::Empty
    );
    async move {
        let opened = Instant::now();
        let deadline = opened + shared.config_arc().handshake_timeout;
        let (peer, refuse, _guard) = match admitted {
            Admission::Decided { refuse, guard } => (peer, refuse, guard),
            Admission::AfterProxyHeader { guard } => {
                // Boxed: the header's buffer is freed once it is read.
                match Box::pin(behind_proxy(&socket, peer, guard, deadline, &shared)).await {
                    Ok(admitted) => admitted,
                    Err(close) => {
                        tracing::Span::current().record("peer", field::display(peer));
                        let ended = Ended { peer, conn_id, app: None, opened, bytes: (0, 0) };
                        ended.report(&shared, &close);
                        return;
                    }
                }
            }
        };
        tracing::Span::current().record("peer", field::display(peer));
        let registered = shared.registry.register(conn_id, peer);
        let local = socket.local_addr().map(|a| a.ip()).unwrap_or([0, 0, 0, 0].into());
        let tracked = shared.platform.track(conn_id, local);
        shared.platform.stats_changed();
        tracing::debug!(connections = shared.counter.total(), "accepted");
        let entry = &registered.entry;
        // Boxed, and freed once bytes arrive: the wait (a timer, three channel waiters) is
        // about half a KiB that the task would otherwise keep for the connection's life.
        match Box::pin(first_bytes(&socket, deadline, &shared, &entry.kick)).await {
            Err(close) => {
                let ended = Ended { peer, conn_id, app: None, opened, bytes: (0, 0) };
                ended.report(&shared, &close);
            }
            Ok(()) => {
                if !shared.config_arc().proxy_protocol.trusted.is_empty() {
                    Box::pin(proxy::warn_if_untrusted_header(&socket)).await;
                }
                // Allocated only now: the session, buffers and the loop's state.
                let conn = Connection::new(
                    Arc::clone(&shared),
                    Arc::clone(entry),
                    peer,
                    opened,
                    Arc::clone(&tracked.cellular),
                    refuse,
                );
                Box::pin(serve(conn, socket, tls, deadline)).await;
            }
        }
        drop(tracked);
        shared.platform.stats_changed();
    }
    .instrument(span)
    .await;
}

/// A trusted load balancer's connection: its PROXY header, then the client it names counted
/// and admitted as if it had connected itself. Returns the client's address, the refusal
/// reason if any (see [`admission`]) and the guard, now counting the client.
async fn behind_proxy(
    socket: &TcpStream,
    lb: SocketAddr,
    mut guard: ConnectionGuard,
    deadline: Instant,
    shared: &Shared,
) -> Result<(SocketAddr, Option<String>, ConnectionGuard), Close> {
    let config = shared.config_arc();
    let required = config.proxy_protocol.required;
    let header = proxy::read_header(socket, required, deadline, &shared.shutdown).await?;
    let (client, via) = proxy::client(lb, header.as_ref());
    if let Some(via) = via {
        tracing::Span::current().record("via_proxy", field::display(via));
    }
    tracing::debug!(%client, via_proxy = ?via, version = ?header.map(|h| h.version), "PROXY header read");
    let from_ip = guard.move_to(client.ip());
    let refuse = admission(&config, shared, client, shared.counter.total(), from_ip);
    Ok((client, refuse, guard))
}

/// Waits until the first bytes (or EOF) arrive, at most until the handshake deadline, and
/// not past a shutdown, a kick or an app-state change that closes idle connections.
///
/// A peek, not `readable()`: a freshly registered socket reports readiness at once (tokio's
/// readiness may be a false positive until a read returns `WouldBlock`), which would
/// allocate the whole connection for a socket that has sent nothing.
async fn first_bytes(
    socket: &TcpStream,
    deadline: Instant,
    shared: &Shared,
    kick: &tokio_util::sync::CancellationToken,
) -> Result<(), Close> {
    let mut directives = shared.platform.directives();
    let directive = async {
        loop {
            if directives.changed().await.is_err() {
                return Close::Shutdown;
            }
            // Nothing is published or played yet: idle.
            if let Some(close) = directive_close(*directives.borrow_and_update(), true) {
                return close;
            }
        }
    };
    let mut first = [0u8; 1];
    tokio::select! {
        peeked = socket.peek(&mut first) => peeked.map(drop).map_err(Close::Io),
        _ = tokio::time::sleep_until(deadline) => Err(Close::HandshakeTimeout),
        _ = shared.shutdown.cancelled() => Err(Close::Shutdown),
        _ = kick.cancelled() => Err(Close::Kicked),
        close = directive => Err(close),
    }
}

/// The TLS handshake (RTMPS) if any, then the connection's loop, then its end.
///
/// Not an `async fn`: one moves its arguments into locals, so the future would hold the
/// [`Connection`] (1.6 KiB) twice; the block below uses the captured one in place.
#[allow(clippy::manual_async_fn)] // on purpose, see above
fn serve(
    mut conn: Connection,
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    deadline: Instant,
) -> impl std::future::Future<Output = ()> {
    async move {
        let close = match tls {
            None => {
                // Shared with the publisher's task of a stream this connection plays in sync.
                let socket = Arc::new(socket);
                conn.share_socket(Arc::clone(&socket));
                let (rd, wr) = (SharedRead(Arc::clone(&socket)), SharedWrite(socket));
                conn.run(rd, wr).await
            }
            // Boxed on its own: the TLS handshake's and the TLS stream's loop state are
            // several KiB, which every plain RTMP connection would otherwise carry.
            Some(acceptor) => Box::pin(serve_tls(&mut conn, acceptor, socket, deadline)).await,
        };
        conn.finish(&close);
    }
}

/// The TLS handshake, then the connection's loop over the TLS stream.
async fn serve_tls(
    conn: &mut Connection,
    acceptor: TlsAcceptor,
    socket: TcpStream,
    deadline: Instant,
) -> Close {
    match tls_accept(acceptor, socket, deadline).await {
        Ok(stream) => {
            let (rd, wr) = tokio::io::split(stream);
            conn.run(rd, wr).await
        }
        Err(close) => close,
    }
}

/// The TLS handshake, by the handshake deadline. A TLS-ALPN-01 validation connection (an
/// ACME CA checking our certificate) ends here: the handshake was the answer.
async fn tls_accept(
    acceptor: TlsAcceptor,
    socket: TcpStream,
    deadline: Instant,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, Close> {
    match tokio::time::timeout_at(deadline, acceptor.accept(socket)).await {
        Ok(Ok(stream))
            if stream.get_ref().1.alpn_protocol() == Some(openrtmp_tls::ACME_TLS_ALPN) =>
        {
            tracing::debug!("ACME TLS-ALPN-01 validation handshake answered");
            Err(Close::AcmeValidation)
        }
        Ok(Ok(stream)) => {
            let (_, session) = stream.get_ref();
            tracing::debug!(
                version = ?session.protocol_version(),
                cipher = ?session.negotiated_cipher_suite().map(|c| c.suite()),
                sni = session.server_name().unwrap_or_default(),
                "TLS established"
            );
            Ok(stream)
        }
        Ok(Err(e)) => Err(Close::TlsHandshake(describe_tls_error(&e))),
        Err(_) => Err(Close::TlsHandshake("not completed in time".into())),
    }
}

/// Why a TLS handshake failed, in words an operator can act on (a client that only speaks
/// TLS 1.0/1.1 sends no signature_algorithms or supported_versions extension, which is how
/// it shows).
fn describe_tls_error(e: &std::io::Error) -> String {
    use rustls::PeerIncompatible as P;
    let old = "the client offers only TLS 1.1 or older (TLS 1.2 is the minimum)";
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::PeerIncompatible(
            P::SignatureAlgorithmsExtensionRequired
            | P::SupportedVersionsExtensionRequired
            | P::Tls12NotOffered
            | P::Tls12NotOfferedOrEnabled,
        )) => old.to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::state::PlatformState;

    /// Default shared state, and one accepted loopback connection (client side, server side).
    async fn accepted() -> (Arc<Shared>, TcpStream, TcpStream, SocketAddr) {
        let config = Config::default();
        let auth = Arc::new(crate::auth::Auth::new(&config.auth).expect("auth"));
        let hub = openrtmp_hub::Hub::new(config.effective_hub());
        let platform = PlatformState::new(None, config.network_policy);
        let shared = Arc::new(Shared::new(config, hub, auth, None, platform, vec![], vec![]));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (socket, peer) = listener.accept().await.expect("accept");
        (shared, client, socket, peer)
    }

    fn decided(shared: &Arc<Shared>, peer: SocketAddr) -> Admission {
        let (guard, _, _) = shared.counter.enter(peer.ip());
        Admission::Decided { refuse: None, guard }
    }

    /// A socket that has sent nothing costs its task's future, a registry entry and the
    /// kernel's buffers: the session, the read buffer and the loop's state are allocated
    /// only when bytes arrive (boxed), so the future stays small.
    #[tokio::test]
    async fn a_connection_waiting_for_its_first_bytes_is_small() {
        let (shared, _client, socket, peer) = accepted().await;
        let admitted = decided(&shared, peer);
        let task = connection_task(socket, None, peer, 1, Arc::clone(&shared), admitted);
        let size = std::mem::size_of_val(&task);
        eprintln!("a connection task before its first bytes: {size} bytes");
        assert!(size <= 2048, "the task of a silent connection holds {size} bytes");
    }

    /// Regression (issue 11): a connection's state after its first bytes was a 9 KiB box: the
    /// `Connection` was held twice (an `async fn` moves its arguments into locals), the TLS
    /// path's state was in every connection's box, and the write's 2 KiB of `IoSlice`s and
    /// the linger's 4 KiB buffer sat in the loop's future. Now about 2.5 KiB.
    #[tokio::test]
    async fn a_running_connection_is_small() {
        let (shared, _client, socket, peer) = accepted().await;
        let registered = shared.registry.register(1, peer);
        let entry = Arc::clone(&registered.entry);
        let conn = Connection::new(shared, entry, peer, Instant::now(), Arc::default(), None);
        let running = serve(conn, socket, None, Instant::now());
        let size = std::mem::size_of_val(&running);
        eprintln!("a running plain RTMP connection: {size} bytes");
        assert!(size <= 3 * 1024, "a running connection holds {size} bytes");
    }

    /// Regression (issue 11): the wait for the first bytes stayed in the task for the
    /// connection's life; it is boxed and freed when they arrive.
    #[tokio::test]
    async fn the_task_of_a_connection_is_small() {
        let (shared, _client, socket, peer) = accepted().await;
        let admitted = decided(&shared, peer);
        let task = connection_task(socket, None, peer, 1, shared, admitted);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 768, "the task of a connection holds {size} bytes");
    }

    /// Regression: `readable()` reported a socket that had sent nothing as readable at once,
    /// so every silent socket got its session and buffers. The wait ends only with bytes.
    #[tokio::test]
    async fn a_silent_socket_is_not_taken_for_one_with_bytes() {
        let (shared, mut client, socket, _) = accepted().await;
        let kick = tokio_util::sync::CancellationToken::new();
        let soon = Instant::now() + Duration::from_millis(300);
        let waited = first_bytes(&socket, soon, &shared, &kick).await;
        assert!(matches!(waited, Err(Close::HandshakeTimeout)), "{waited:?}");
        tokio::io::AsyncWriteExt::write_all(&mut client, &[3]).await.expect("write");
        let later = Instant::now() + Duration::from_secs(30);
        let waited = first_bytes(&socket, later, &shared, &kick).await;
        assert!(waited.is_ok(), "{waited:?}");
    }
}
