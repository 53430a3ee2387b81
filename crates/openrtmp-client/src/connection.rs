//! A client connection: a socket driven through a [`ClientSession`].

use std::io::IoSlice;
use std::time::Duration;

use openrtmp_proto::command::{EnhancedCaps, PublishType, StatusLevel, CAPS_EX_RECONNECT};
use openrtmp_proto::handshake::ClientMode;
use openrtmp_proto::session::{ClientConfig, ClientEvent, ClientSession, SessionError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::url::{RtmpUrl, UrlError};

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not usable.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// Could not reach the server.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// host:port.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// A socket error after connecting.
    #[error("connection to {addr} failed: {source}")]
    Io {
        /// host:port.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The server broke the protocol (or refused the connect).
    #[error("protocol error from {addr}: {source}")]
    Protocol {
        /// host:port.
        addr: String,
        /// What went wrong.
        source: SessionError,
    },
    /// The server refused to publish or play (onStatus error).
    #[error("server refused: {code}: {description}")]
    Refused {
        /// The onStatus code (e.g. NetStream.Publish.BadName).
        code: String,
        /// The description.
        description: String,
    },
    /// The server closed the connection.
    #[error("server {addr} closed the connection")]
    Closed {
        /// host:port.
        addr: String,
    },
    /// A step took too long.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: &'static str,
    },
    /// The TLS settings cannot be used (a CA file that does not load, ...).
    #[error("TLS settings: {0}")]
    TlsConfig(#[from] openrtmp_tls::TlsError),
    /// The TLS handshake with the server failed (untrusted certificate, pin mismatch, no
    /// common version, ...).
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        /// host:port.
        addr: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A local FLV file is malformed.
    #[error("{path}: {reason}")]
    Media {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Options of a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Outbound chunk size (default 4096).
    pub chunk_size: u32,
    /// Digest or simple handshake.
    pub handshake: ClientMode,
    /// Time allowed for TCP connect + handshake + connect.
    pub connect_timeout: Duration,
    /// Time allowed for publish/play to be answered.
    pub command_timeout: Duration,
    /// TLS for `rtmps://` URLs: extra trusted CAs, pinned server keys, or no verification
    /// (development). Default: the Mozilla roots.
    pub tls: openrtmp_tls::ClientTls,
    /// Announce playback capabilities in `connect` (`fpad`, `audioCodecs`, `videoCodecs`,
    /// ...) as players do (default true). Encoders leave them out (FMLE, OBS and FFmpeg
    /// send `app`, `type`, `flashVer`, `tcUrl`): a connection that only publishes, such as
    /// a relay push, looks like one to strict ingest servers with this off.
    pub player: bool,
    /// The relay chain to announce in `connect` as `openrtmpVia` (comma-separated node
    /// ids, the sender's last): set by OpenRTMP's relay pulls and pushes so that servers
    /// can refuse relay loops; `None` (the default) for every other client.
    pub via: Option<String>,
    /// The Window Acknowledgement Size we announce (RTMP 1.0 §5.4.4): the server
    /// acknowledges every this many bytes it receives from us. A relay push announces a
    /// small one, so the target's acknowledgements tell within a second whether it reads.
    pub window_ack_size: u32,
    /// Announce Enhanced RTMP v2 reconnect support in `connect` (`capsEx` bit
    /// `Reconnect`, "Enhancing NetConnection connect Command"), so a server that drains or
    /// remaps asks us to move (`NetConnection.Connect.ReconnectRequest`) instead of just
    /// closing. Default false: only set it where the request is followed, as
    /// [`publish_file`](crate::publish_file) and [`FollowingPublisher`](crate::FollowingPublisher)
    /// do; `openrtmp publish` sets it unless `--no-follow-reconnect`.
    pub reconnect: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            chunk_size: 4096,
            handshake: ClientMode::Digest,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            tls: openrtmp_tls::ClientTls::default(),
            player: true,
            via: None,
            window_ack_size: openrtmp_proto::session::DEFAULT_WINDOW_ACK_SIZE,
            reconnect: false,
        }
    }
}

/// Byte streams the client can run over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// A connected RTMP client (handshake and `connect` done).
pub struct Connection {
    io: Box<dyn Transport>,
    session: ClientSession,
    url: RtmpUrl,
    addr: String,
    read_buf: Vec<u8>,
    options: ConnectOptions,
    /// Bytes written to the transport (handshake included), to compare with the
    /// server's acknowledgements.
    bytes_sent: u64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("url", &self.url.to_string()).finish_non_exhaustive()
    }
}

/// The TLS handshake of an `rtmps://` connection (SNI and verification for the URL's host).
async fn tls_handshake(
    connector: &tokio_rustls::TlsConnector,
    url: &RtmpUrl,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
    let addr = url.authority();
    let name = rustls::pki_types::ServerName::try_from(url.host.clone()).map_err(|e| {
        let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        ClientError::Tls { addr: addr.clone(), source }
    })?;
    connector.connect(name, tcp).await.map_err(|source| ClientError::Tls { addr, source })
}

impl Connection {
    /// Connects to the server of `url`: TCP, handshake, `connect` to its application.
    pub async fn connect(url: &RtmpUrl, options: ConnectOptions) -> Result<Self, ClientError> {
        let addr = url.authority();
        let timeout = options.connect_timeout;
        let tls = match url.is_tls() {
            true => Some(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
                options.tls.client_config()?,
            ))),
            false => None,
        };
        let connecting = async {
            let tcp = TcpStream::connect((url.host.as_str(), url.port))
                .await
                .map_err(|source| ClientError::Connect { addr: addr.clone(), source })?;
            let _ = tcp.set_nodelay(true);
            match tls {
                None => Self::over(Box::new(tcp), url, options).await,
                Some(connector) => {
                    let stream = tls_handshake(&connector, url, tcp).await?;
                    Self::over(Box::new(stream), url, options).await
                }
            }
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| ClientError::Timeout { what: "connect" })?
    }

    /// Runs handshake and `connect` over an already established transport.
    pub async fn over(
        io: Box<dyn Transport>,
        url: &RtmpUrl,
        options: ConnectOptions,
    ) -> Result<Self, ClientError> {
        let mut config = ClientConfig::new(url.app.clone(), url.tc_url());
        config.chunk_size = options.chunk_size;
        config.handshake = options.handshake;
        config.connect.player = options.player;
        config.connect.via = options.via.clone();
        config.window_ack_size = options.window_ack_size.max(1);
        if options.reconnect {
            config.connect.enhanced =
                Some(EnhancedCaps { caps_ex: CAPS_EX_RECONNECT, ..EnhancedCaps::default() });
        }
        let mut random = vec![0u8; 1536];
        rand::Rng::fill(&mut rand::thread_rng(), random.as_mut_slice());
        let session = ClientSession::new(config, 0, &random);
        let mut conn = Connection {
            io,
            session,
            url: url.clone(),
            addr: url.authority(),
            read_buf: vec![0; 64 * 1024],
            options,
            bytes_sent: 0,
        };
        conn.flush().await?;
        loop {
            match conn.next_event().await? {
                Some(ClientEvent::Connected { .. }) => return Ok(conn),
                Some(_) => {}
                None => return Err(ClientError::Closed { addr: conn.addr.clone() }),
            }
        }
    }

    /// The URL this connection was made for.
    pub fn url(&self) -> &RtmpUrl {
        &self.url
    }

    /// Bytes written to the server so far, handshake included (what its
    /// acknowledgements, [`ClientSession::bytes_acknowledged`], are compared with).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Bytes queued in the session and not written yet.
    pub fn pending_bytes(&mut self) -> usize {
        self.session.transmit().len()
    }

    /// The protocol session (to send media, metadata, ...).
    pub fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    /// Writes everything the session has queued, with vectored writes.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        loop {
            let out = self.session.transmit();
            if out.is_empty() {
                break;
            }
            let written = {
                let mut slices = [IoSlice::new(&[]); 64];
                let n = out.io_slices(&mut slices);
                self.io.write_vectored(slices.get(..n).unwrap_or_default()).await
            };
            match written {
                Ok(0) => return Err(ClientError::Closed { addr: self.addr.clone() }),
                Ok(n) => {
                    self.session.transmit().advance(n);
                    self.bytes_sent += n as u64;
                }
                Err(source) => return Err(ClientError::Io { addr: self.addr.clone(), source }),
            }
        }
        self.io.flush().await.map_err(|source| ClientError::Io { addr: self.addr.clone(), source })
    }

    /// Reads once from the socket into the session (cancel-safe: used inside `select!`).
    /// Returns false at end of stream.
    pub async fn read_input(&mut self) -> Result<bool, ClientError> {
        let n = self
            .io
            .read(&mut self.read_buf)
            .await
            .map_err(|source| ClientError::Io { addr: self.addr.clone(), source })?;
        if n == 0 {
            return Ok(false);
        }
        let data = self.read_buf.get(..n).unwrap_or_default();
        self.session
            .handle_input(data)
            .map_err(|source| ClientError::Protocol { addr: self.addr.clone(), source })?;
        Ok(true)
    }

    /// The next event, reading from the socket as needed (and flushing what the session
    /// queued, e.g. acknowledgements). `None` when the server closed the connection.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>, ClientError> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(Some(event));
            }
            self.flush().await?;
            if !self.read_input().await? {
                return Ok(None);
            }
        }
    }

    /// Publishes `name`; returns the message stream id once NetStream.Publish.Start arrived.
    pub async fn publish(
        &mut self,
        name: &str,
        publish_type: PublishType,
    ) -> Result<u32, ClientError> {
        self.session
            .publish(name, publish_type)
            .map_err(|_| ClientError::Closed { addr: self.addr.clone() })?;
        self.flush().await?;
        self.await_start("publish", |e| matches!(e, ClientEvent::PublishStarted { .. })).await
    }

    /// Plays `name` (live: start -2); returns the message stream id once NetStream.Play.Start
    /// arrived. Media events buffered meanwhile stay queued.
    pub async fn play(&mut self, name: &str) -> Result<u32, ClientError> {
        self.session
            .play(name, -2.0, -1.0, true)
            .map_err(|_| ClientError::Closed { addr: self.addr.clone() })?;
        self.flush().await?;
        self.await_start("play", |e| matches!(e, ClientEvent::PlayStarted { .. })).await
    }

    async fn await_start(
        &mut self,
        what: &'static str,
        started: impl Fn(&ClientEvent) -> bool,
    ) -> Result<u32, ClientError> {
        let deadline = tokio::time::Instant::now() + self.options.command_timeout;
        loop {
            let event = tokio::time::timeout_at(deadline, self.next_event())
                .await
                .map_err(|_| ClientError::Timeout { what })??;
            match event {
                Some(
                    ref e @ (ClientEvent::PublishStarted { stream_id }
                    | ClientEvent::PlayStarted { stream_id }),
                ) if started(e) => return Ok(stream_id),
                Some(ClientEvent::Status { level, code, description, .. })
                    if level == StatusLevel::Error.as_str() =>
                {
                    return Err(ClientError::Refused { code, description })
                }
                Some(ClientEvent::CallFailed { command, info }) => {
                    let d = info.get("description").and_then(|v| v.as_str()).unwrap_or_default();
                    return Err(ClientError::Refused {
                        code: format!("{command} failed"),
                        description: d.to_owned(),
                    });
                }
                Some(_) => {}
                None => return Err(ClientError::Closed { addr: self.addr.clone() }),
            }
        }
    }

    /// Unpublishes (if publishing), flushes and shuts the socket down.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let _ = self.session.unpublish();
        self.session.stop_play();
        self.flush().await?;
        let _ = self.io.shutdown().await;
        Ok(())
    }
}
