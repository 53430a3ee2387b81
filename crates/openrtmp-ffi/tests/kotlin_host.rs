//! Runs `platforms/hosttest/run.sh`: the generated Kotlin bindings, compiled with kotlinc and
//! run on the JVM against libopenrtmp_ffi.so, drive a server that a real FFmpeg publishes to.
//!
//! Needs kotlinc, JNA, java and ffmpeg: locally a missing one skips (with the reason
//! printed); in CI (`CI` set) it fails. The script builds with cargo itself, into
//! `HOSTTEST_TARGET_DIR` (default: the same target directory as this test, whose build lock
//! cargo has released by the time tests run).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[test]
fn kotlin_jvm_host_smoke_test() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("platforms/hosttest/run.sh");
    assert!(script.exists(), "{} is missing", script.display());
    let target = std::env::var_os("HOSTTEST_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
    });
    let t = Instant::now();
    let output = Command::new("bash")
        .arg(&script)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run platforms/hosttest/run.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    match output.status.code() {
        Some(0) => {
            assert!(stdout.contains("\nOK\n"), "the Kotlin test did not print OK");
            println!("Kotlin host test passed in {:.1?}", t.elapsed());
        }
        Some(77) => {
            let reason = stderr.lines().find(|l| l.starts_with("MISSING: ")).unwrap_or("MISSING");
            openrtmp_testkit::skip_or_fail(&format!("Kotlin host test: {reason}"));
        }
        other => panic!("platforms/hosttest/run.sh failed ({other:?})"),
    }
}
