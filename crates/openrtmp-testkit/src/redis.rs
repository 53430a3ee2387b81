//! A `redis-server` for one test (Debian package `redis-server`; `REDIS_SERVER` overrides
//! the program path): its own loopback port, no persistence (`--save ''`,
//! `--appendonly no`), its working directory a temporary one, killed when dropped. It can
//! be killed and restarted empty on the same port, as a store that crashed and came back.
//!
//! Everything here blocks (a start waits for `PING` to answer, at most 10 s). [`query`]
//! speaks just enough RESP for tests (`DBSIZE`, `INFO`, `FLUSHALL`, `DEBUG SLEEP`).
//!
//! [`query`]: RedisServer::query

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, ChildGuard, TempDir};

/// How long redis-server may take to answer `PING` after start.
const START_LIMIT: Duration = Duration::from_secs(10);

/// The redis-server program when it runs (`--version`): `REDIS_SERVER`, else
/// `/usr/bin/redis-server`, else `redis-server` on PATH. When it does not: fails in CI
/// (`CI` set), skips with a printed reason locally (`None`).
pub fn program() -> Option<PathBuf> {
    let path = std::env::var_os("REDIS_SERVER").map(PathBuf::from).or_else(|| {
        let debian = PathBuf::from("/usr/bin/redis-server");
        debian.exists().then_some(debian)
    });
    crate::require_with("redis-server", path, &["--version"])
}

/// A running redis-server (see the module documentation); killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    // Declared first: the process goes before its directory.
    child: Option<ChildGuard>,
    program: PathBuf,
    dir: TempDir,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free port; `None` (with the reason printed) when redis-server is
    /// missing outside CI.
    pub fn start() -> Option<RedisServer> {
        let program = program()?;
        let mut server =
            RedisServer { child: None, program, dir: TempDir::new("redis"), port: free_port() };
        server.spawn();
        Some(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (SIGKILL): connections drop, new ones are refused.
    pub fn kill(&mut self) {
        self.child = None;
    }

    /// Kills it and starts it again, empty, on the same port.
    pub fn restart_empty(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.program)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(ChildGuard(child));
        let end = Instant::now() + START_LIMIT;
        while Instant::now() < end {
            if self.try_query(&["PING"]).is_ok_and(|r| r.as_deref() == Ok("PONG")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING within {START_LIMIT:?}", self.port);
    }

    /// Sends one command, returns the reply: a status, an integer or a bulk string as
    /// text; an error reply as `Err`. Panics when the server cannot be reached.
    pub fn query(&self, args: &[&str]) -> Result<String, String> {
        self.try_query(args).unwrap_or_else(|e| panic!("redis-server {}: {e}", self.port))
    }

    /// The value of `field` in `INFO` (`used_memory`, `db0`, ...).
    pub fn info(&self, field: &str) -> Option<String> {
        let info = self.query(&["INFO"]).ok()?;
        let prefix = format!("{field}:");
        info.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().to_owned())
    }

    fn try_query(&self, args: &[&str]) -> std::io::Result<Result<String, String>> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        let bad = || std::io::Error::other(format!("unexpected reply {line:?}"));
        let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
        Ok(match kind {
            "+" | ":" => Ok(rest.to_owned()),
            "-" => Err(rest.to_owned()),
            "$" => {
                let len: i64 = rest.parse().map_err(|_| bad())?;
                if len < 0 {
                    return Ok(Ok(String::new()));
                }
                let mut body = vec![0; len as usize + 2];
                reader.read_exact(&mut body)?;
                body.truncate(len as usize);
                Ok(String::from_utf8_lossy(&body).into_owned())
            }
            _ => return Err(bad()),
        })
    }
}
