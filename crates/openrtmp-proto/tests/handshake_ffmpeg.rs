//! Interop: real FFmpeg clients perform the RTMP handshake against `ServerHandshake` over a
//! real socket, then send their first chunk (the `connect` command).
//!
//! FFmpeg only validates the server's digests (S1 digest, then S2 signature, aborting with
//! "Server response validating failed" / "Signature mismatch") when it *plays* a stream; a
//! publisher echoes S1 without checking it. So each binary is run both ways: the play runs are
//! the ones that prove our S1/S2 digests are right, the publish runs prove the echo path.
//!
//! Binaries: Debian's `/usr/bin/ffmpeg` and a current static build (env
//! `FFMPEG_CURRENT`, default: imageio-ffmpeg's 9.0.2). A missing binary fails the test
//! when `CI` is set and skips it otherwise.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use openrtmp_proto::handshake::{DigestLayout, HandshakeScheme, ServerHandshake, RANDOM_LEN};
use rand::Rng;

const DEBIAN_FFMPEG: &str = "/usr/bin/ffmpeg";
const CURRENT_FFMPEG: &str = "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/\
                              imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2";
/// Generous: the current build is a 170 MB static binary, and on a cold page cache (a CI runner
/// right after compiling the workspace) loading it alone has taken over 5 s.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Chunk basic header (1) + type 0 message header (11) + the AMF0 string "connect" (10).
const CONNECT_PREFIX_LEN: usize = 12 + 10;

#[derive(Debug, Clone, Copy)]
enum Role {
    Publish,
    Play,
}

#[test]
fn debian_ffmpeg_publish() {
    run_if_present(debian(), Role::Publish);
}

#[test]
fn debian_ffmpeg_play_validates_our_digests() {
    run_if_present(debian(), Role::Play);
}

#[test]
fn current_ffmpeg_publish() {
    run_if_present(current(), Role::Publish);
}

#[test]
fn current_ffmpeg_play_validates_our_digests() {
    run_if_present(current(), Role::Play);
}

fn debian() -> PathBuf {
    PathBuf::from(DEBIAN_FFMPEG)
}

fn current() -> PathBuf {
    std::env::var_os("FFMPEG_CURRENT").map_or_else(|| CURRENT_FFMPEG.into(), Into::into)
}

fn run_if_present(ffmpeg: PathBuf, role: Role) {
    if !ffmpeg.is_file() {
        openrtmp_testkit::skip_or_fail(&format!(
            "handshake interop test: FFmpeg binary {} not found (install it or set FFMPEG_CURRENT)",
            ffmpeg.display()
        ));
        return;
    }
    warm(&ffmpeg);
    run(&ffmpeg, role);
}

/// Runs `ffmpeg -version` once so the binary is paged in before anything is timed.
fn warm(ffmpeg: &Path) {
    let status = Command::new(ffmpeg)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run {} -version: {e}", ffmpeg.display()));
    assert!(status.success(), "{} -version failed: {status}", ffmpeg.display());
}

/// Kills FFmpeg however the test ends.
struct Ffmpeg(Child);

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Ffmpeg {
    fn stderr(mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut text = String::new();
        if let Some(mut err) = self.0.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

/// What the server side saw.
#[derive(Debug)]
struct Outcome {
    scheme: Option<HandshakeScheme>,
    peer_version: Option<[u8; 4]>,
    c2_valid: Option<bool>,
    /// Bytes after C2: the start of the chunk stream.
    after_c2: Vec<u8>,
    /// From accepting FFmpeg's connection to the start of its `connect` command.
    took: Duration,
}

fn run(ffmpeg: &Path, role: Role) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("rtmp://127.0.0.1:{}/live/test", listener.local_addr().unwrap().port());
    let mut cmd = Command::new(ffmpeg);
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    match role {
        Role::Publish => cmd
            .args(["-re", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5"])
            .args(["-t", "1", "-f", "flv", &url]),
        Role::Play => cmd.args(["-i", &url, "-t", "1", "-f", "null", "-"]),
    };
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn();
    let child = Ffmpeg(child.unwrap_or_else(|e| panic!("spawn {}: {e}", ffmpeg.display())));

    let outcome = thread::spawn(move || serve(&listener)).join().unwrap();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            panic!("{role:?} with {}: {error}\nffmpeg: {}", ffmpeg.display(), child.stderr())
        }
    };
    drop(child);

    assert_eq!(outcome.scheme, Some(HandshakeScheme::Digest(DigestLayout::Schema0)));
    assert_eq!(outcome.peer_version, Some([9, 0, 124, 2]));
    assert_eq!(outcome.c2_valid, Some(true), "{role:?}: FFmpeg's C2 should validate");
    let chunk = &outcome.after_c2;
    assert_eq!(chunk[0], 0x03, "fmt 0, csid 3: {chunk:02x?}");
    assert_eq!(chunk[7], 20, "AMF0 command message: {chunk:02x?}");
    assert_eq!(&chunk[12..CONNECT_PREFIX_LEN], b"\x02\x00\x07connect", "{chunk:02x?}");
    assert!(outcome.took < Duration::from_secs(10), "handshake took {:?}", outcome.took);
}

/// Accepts FFmpeg, runs the handshake, reads up to the start of the `connect` command.
fn serve(listener: &TcpListener) -> Result<Outcome, String> {
    let mut stream = accept(listener)?;
    let accepted = Instant::now();
    stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut random = vec![0u8; RANDOM_LEN];
    rand::thread_rng().fill(&mut random[..]);
    let mut handshake = ServerHandshake::new(0, &random);
    let mut input = BytesMut::new();
    while !handshake.is_complete() {
        read_some(&mut stream, &mut input, "during the handshake")?;
        handshake.handle_input(&mut input).map_err(|e| e.to_string())?;
        while let Some(bytes) = handshake.poll_transmit() {
            stream.write_all(&bytes).map_err(|e| format!("write S0+S1+S2: {e}"))?;
        }
    }
    while input.len() < CONNECT_PREFIX_LEN {
        read_some(&mut stream, &mut input, "after C2 (did FFmpeg reject S1/S2?)")?;
    }
    Ok(Outcome {
        scheme: handshake.scheme(),
        peer_version: handshake.peer_version(),
        c2_valid: handshake.c2_valid(),
        after_c2: input.to_vec(),
        took: accepted.elapsed(),
    })
}

fn accept(listener: &TcpListener) -> Result<TcpStream, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + ACCEPT_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("no connection from FFmpeg: {e}")),
        }
    }
}

fn read_some(stream: &mut TcpStream, input: &mut BytesMut, when: &str) -> Result<(), String> {
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => Err(format!("FFmpeg closed the connection {when}")),
        Ok(n) => {
            input.extend_from_slice(&buf[..n]);
            Ok(())
        }
        Err(e) => Err(format!("read {when}: {e}")),
    }
}
