//! Pebble, Let's Encrypt's test ACME CA (Debian package `pebble`; `PEBBLE` overrides the
//! program path), run for one test: its own HTTPS certificate (a CA made here, trusted
//! through [`Pebble::ca_file`]), its own ports, killed when dropped.
//!
//! Pebble runs with `-strict false`, `PEBBLE_VA_NOSLEEP=1` (no random validation delays),
//! `PEBBLE_WFE_NONCEREJECT=0` (no deliberate badNonce) and `PEBBLE_AUTHZREUSE=0` (every
//! order is validated again, so renewals exercise the challenge too). It validates
//! TLS-ALPN-01 on `localhost:<tls_port>` and HTTP-01 on `localhost:<http_port>`.
//!
//! Everything here blocks (starting waits for the directory to answer, at most 10 s).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::{free_port, ChildGuard, TempDir};

/// How long Pebble may take to answer its directory after start.
const START_LIMIT: Duration = Duration::from_secs(10);

/// The Pebble program when it runs (`pebble -h`; it has no `-version`): `PEBBLE`, else
/// `pebble` on PATH. When it does not: fails in CI (`CI` set), skips with a printed reason
/// locally (`None`).
pub fn program() -> Option<PathBuf> {
    let path = std::env::var_os("PEBBLE").map(PathBuf::from);
    // Pebble has no -version; -h exits 0. (Debian: apt-get install pebble.)
    crate::require_with("pebble", path, &["-h"])
}

/// Where Pebble listens (ACME directory, management interface) and where it validates
/// challenges (TLS-ALPN-01, HTTP-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PebblePorts {
    pub listen: u16,
    pub management: u16,
    pub tls: u16,
    pub http: u16,
}

/// A running Pebble (see the module documentation); killed when dropped.
#[derive(Debug)]
pub struct Pebble {
    // Declared first: the process goes before its directory.
    child: Option<ChildGuard>,
    program: PathBuf,
    dir: TempDir,
    ports: PebblePorts,
    /// The CA of Pebble's HTTPS certificate.
    https_ca: CertificateDer<'static>,
    /// The root of the certificates Pebble issues (new at each start).
    root_pem: String,
}

impl Pebble {
    /// Starts Pebble validating TLS-ALPN-01 on `tls_port` and HTTP-01 on `http_port`
    /// (ACME and management on free ports), waits until its directory answers and fetches
    /// its issuing root. `None` (locally) when Pebble is not installed; in CI that fails.
    pub fn start(tls_port: u16, http_port: u16) -> Option<Pebble> {
        let program = program()?;
        let dir = TempDir::new("pebble");
        let https_ca = write_https_certificate(&dir);
        let ports = PebblePorts {
            listen: free_port(),
            management: free_port(),
            tls: tls_port,
            http: http_port,
        };
        let mut pebble =
            Pebble { child: None, program, dir, ports, https_ca, root_pem: String::new() };
        pebble.launch();
        Some(pebble)
    }

    /// The ACME directory URL (`https://localhost:<port>/dir`).
    pub fn directory_url(&self) -> String {
        format!("https://localhost:{}/dir", self.ports.listen)
    }

    /// The CA of Pebble's own HTTPS certificate (PEM file): `AcmeSettings::directory_ca`.
    /// It stays after [`stop`](Self::stop), until the `Pebble` is dropped.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path("pebble-ca.pem")
    }

    /// The root of the certificates this Pebble issues (PEM; new at each start).
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// [`root_pem`](Self::root_pem) in a file: for `ClientTls::ca_files`.
    pub fn root_file(&self) -> PathBuf {
        self.dir.path("pebble-root.pem")
    }

    /// The ports it uses.
    pub fn ports(&self) -> PebblePorts {
        self.ports
    }

    /// What Pebble printed (every start so far).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("pebble.log")).unwrap_or_default()
    }

    /// Stops Pebble and waits until it is gone (the files stay until dropped).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.0.kill();
            let _ = child.0.wait();
        }
    }

    /// Stops and starts Pebble again on the same ports with the same HTTPS certificate:
    /// the same directory URL, but empty state (accounts are unknown) and a new issuing root.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn launch(&mut self) {
        let PebblePorts { listen, management, tls, http } = self.ports;
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": self.dir.path("pebble-cert.pem"),
                "privateKey": self.dir.path("pebble-key.pem"),
                "httpPort": http,
                "tlsPort": tls,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
            }
        });
        let config_path = self.dir.path("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).expect("write pebble config");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path("pebble.log"))
            .expect("pebble log");
        let child = Command::new(&self.program)
            .arg("-config")
            .arg(&config_path)
            .args(["-strict", "false"])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("pebble log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.program.display()));
        self.child = Some(ChildGuard(child));
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = self.https_get(listen, "/dir") {
                break;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.0.try_wait()) {
                panic!("pebble exited ({status}) before answering:\n{}", self.log());
            }
            assert!(started.elapsed() < START_LIMIT, "pebble: no directory:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        let (status, body) = self.https_get(management, "/roots/0").expect("GET /roots/0");
        assert_eq!(status, 200, "pebble GET /roots/0: {body}");
        assert!(body.contains("BEGIN CERTIFICATE"), "pebble GET /roots/0: {body}");
        std::fs::write(self.root_file(), &body).expect("write pebble root");
        self.root_pem = body;
        println!("pebble answering after {:?}", started.elapsed());
    }

    /// One HTTP/1.1 GET over TLS to 127.0.0.1:`port` (server name localhost, Pebble's
    /// HTTPS CA trusted): status and body.
    fn https_get(&self, port: u16, path: &str) -> std::io::Result<(u16, String)> {
        let mut roots = RootCertStore::empty();
        roots.add(self.https_ca.clone()).map_err(std::io::Error::other)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").expect("server name");
        let mut tls =
            rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
        let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        let mut response = Vec::new();
        // Go may close without close_notify after the body: keep what arrived.
        if let Err(e) = stream.read_to_end(&mut response) {
            if response.is_empty() {
                return Err(e);
            }
        }
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        Ok((status, if chunked { dechunk(body) } else { body.to_owned() }))
    }
}

/// A CA and, signed by it, Pebble's HTTPS certificate for localhost and 127.0.0.1: writes
/// `pebble-ca.pem`, `pebble-cert.pem`, `pebble-key.pem` into `dir`; returns the CA.
fn write_https_certificate(dir: &TempDir) -> CertificateDer<'static> {
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Pebble HTTPS test CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    write(&dir.path("pebble-ca.pem"), &ca.pem());
    write(&dir.path("pebble-cert.pem"), &cert.pem());
    write(&dir.path("pebble-key.pem"), &key.serialize_pem());
    ca.der().clone()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
