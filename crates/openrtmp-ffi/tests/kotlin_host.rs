//! Runs `platforms/hosttest/run.sh`: the generated Kotlin bindings, compiled with kotlinc and
//! run on the JVM against libopenrtmp_ffi.so, drive a server that a real FFmpeg publishes to;
//! and `platforms/android/check-jvm.sh`, the Android module's pure logic on the same JVM.
//!
//! Needs kotlinc, JNA, java and ffmpeg: locally a missing one skips (with the reason
//! printed); in CI (`CI` set) it fails. The script builds with cargo itself, into
//! `HOSTTEST_TARGET_DIR` (default: the same target directory as this test, whose build lock
//! cargo has released by the time tests run).

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

#[test]
fn kotlin_jvm_host_smoke_test() {
    run_script("platforms/hosttest/run.sh", "Kotlin host test", |out| out.contains("\nOK\n"));
}

/// The Android module's Android-free logic (`ServiceLogic.kt`: network snapshots, power,
/// notification text, throttling) compiled with the bindings and checked on the JVM
/// against a real server (`platforms/android/check-jvm.sh`).
#[test]
fn android_service_logic_on_the_jvm() {
    run_script("platforms/android/check-jvm.sh", "Android logic JVM check", |out| {
        out.lines().any(|l| l.starts_with("ok: ") && l.ends_with(" checks passed"))
    });
}

/// Runs a host-test script: exit 0 and `passed(stdout)` pass; exit 77 (a missing
/// prerequisite) skips locally and fails in CI; anything else fails.
fn run_script(path: &str, what: &str, passed: impl Fn(&str) -> bool) {
    // One at a time: each script rebuilds libopenrtmp_ffi.so (with and without uniffi's
    // `cli` feature) in the shared target directory, which must not happen under the
    // other script's JVM while it loads the library.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join(path);
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
        .unwrap_or_else(|e| panic!("run {path}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    match output.status.code() {
        Some(0) => {
            assert!(passed(&stdout), "{what}: the script did not report success");
            println!("{what} passed in {:.1?}", t.elapsed());
        }
        Some(77) => {
            let reason = stderr.lines().find(|l| l.starts_with("MISSING: ")).unwrap_or("MISSING");
            openrtmp_testkit::skip_or_fail(&format!("{what}: {reason}"));
        }
        other => panic!("{path} failed ({other:?})"),
    }
}
