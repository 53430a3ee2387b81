//! `openrtmp service install|uninstall` on Linux, against a `--root` directory: the unit file
//! written, `--dry-run`, `--user` paths, and errors. No systemctl command runs under `--root`.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir()
            .join(format!("openrtmp-service-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openrtmp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_openrtmp"))
        .args(args)
        .env("HOME", "/home/tester")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .output()
        .expect("run openrtmp")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn binary() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_openrtmp")).canonicalize().expect("binary path")
}

/// Every file below `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn install_and_uninstall_under_root() {
    let root = TempDir::new("root");
    let r = root.0.to_str().unwrap();
    let out = openrtmp(&["service", "install", "--root", r, "--config", "/srv/live/openrtmp.yaml"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let unit_path = root.0.join("etc/systemd/system/openrtmp.service");
    assert_eq!(files(&root.0), [PathBuf::from("etc/systemd/system/openrtmp.service")]);
    assert!(stdout(&out).contains(&format!("wrote {}", unit_path.display())), "{}", stdout(&out));
    assert!(stdout(&out).contains("no systemctl command was run"), "{}", stdout(&out));
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let exec =
        format!("\nExecStart={} serve --config /srv/live/openrtmp.yaml\n", binary().display());
    assert!(unit.contains(&exec), "{exec} in\n{unit}");
    assert!(binary().is_absolute());
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.contains(&format!("\n{line}\n")), "{line} in\n{unit}");
    }

    // A second install replaces the file.
    let out = openrtmp(&["service", "install", "--root", r, "--config", "rel/o.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("replaced"), "{}", stdout(&out));
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let config = std::env::current_dir().unwrap().join("rel/o.yaml");
    assert!(unit.contains(&format!(" serve --config {}\n", config.display())), "{unit}");

    let out = openrtmp(&["service", "uninstall", "--root", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("removed {}", unit_path.display())));
    assert!(!unit_path.exists());
    // Uninstalling again is not an error.
    let out = openrtmp(&["service", "uninstall", "--root", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to remove"), "{}", stdout(&out));
}

#[test]
fn dry_run_writes_nothing() {
    let root = TempDir::new("dry");
    let r = root.0.to_str().unwrap();
    let out = openrtmp(&[
        "service",
        "install",
        "--dry-run",
        "--root",
        r,
        "--name",
        "live",
        "--binary",
        "/opt/openrtmp/bin/openrtmp",
        "--config",
        "/etc/openrtmp/live.yaml",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("would write {}/etc/systemd/system/live.service:", r)),
        "{text}"
    );
    assert!(
        text.contains(
            "\nExecStart=/opt/openrtmp/bin/openrtmp serve --config /etc/openrtmp/live.yaml\n"
        ),
        "{text}"
    );
    assert!(text.contains("Description=OpenRTMP live streaming server (live)"), "{text}");
    assert!(files(&root.0).is_empty());

    // Without --root, the systemctl commands are printed, not run.
    let out = openrtmp(&[
        "service",
        "install",
        "--dry-run",
        "--binary",
        "/usr/bin/openrtmp",
        "--config",
        "/nonexistent/openrtmp.yaml",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("would write /etc/systemd/system/openrtmp.service:"), "{text}");
    assert!(text.contains("would run: systemctl daemon-reload\n"), "{text}");
    assert!(text.contains("would run: systemctl enable --now openrtmp.service\n"), "{text}");
    assert!(text.contains("does not exist yet"), "{text}");

    let out = openrtmp(&["service", "uninstall", "--dry-run", "--user"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("would run: systemctl --user disable --now openrtmp.service\n"),
        "{text}"
    );
    assert!(
        text.contains("would remove /home/tester/.config/systemd/user/openrtmp.service\n"),
        "{text}"
    );
    assert!(text.contains("would run: systemctl --user daemon-reload\n"), "{text}");
}

#[test]
fn user_unit_layout_under_root() {
    let root = TempDir::new("user");
    let r = root.0.to_str().unwrap();
    let out = openrtmp(&["service", "install", "--user", "--root", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        files(&root.0),
        [PathBuf::from("home/tester/.config/systemd/user/openrtmp.service")]
    );
    let unit =
        std::fs::read_to_string(root.0.join("home/tester/.config/systemd/user/openrtmp.service"))
            .unwrap();
    assert!(
        unit.contains(" serve --config /home/tester/.config/openrtmp/openrtmp.yaml\n"),
        "{unit}"
    );
    assert!(unit.contains("\nType=notify\n"), "{unit}");
    assert!(unit.contains("\nWantedBy=default.target\n"), "{unit}");
    assert!(!unit.contains("DynamicUser"), "{unit}");

    // XDG_CONFIG_HOME wins over ~/.config.
    let out = Command::new(env!("CARGO_BIN_EXE_openrtmp"))
        .args(["service", "install", "--user", "--root", r, "--name", "x", "--dry-run"])
        .env("HOME", "/home/tester")
        .env("XDG_CONFIG_HOME", "/cfg")
        .output()
        .unwrap();
    assert!(stdout(&out).contains(&format!("would write {r}/cfg/systemd/user/x.service:")));

    let out = openrtmp(&["service", "uninstall", "--user", "--root", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(files(&root.0).is_empty());
}

#[test]
fn precise_errors() {
    let out = openrtmp(&["service", "install", "--name", "a/b", "--dry-run"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid --name"), "{}", stderr(&out));

    // A missing configuration is refused when the service would start.
    let out = openrtmp(&["service", "install", "--config", "/nonexistent/openrtmp.yaml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/openrtmp.yaml does not exist"), "{}", stderr(&out));

    // An invalid configuration is refused.
    let dir = TempDir::new("bad");
    let config = dir.0.join("bad.yaml");
    std::fs::write(&config, "listen: 12\n").unwrap();
    let out = openrtmp(&["service", "install", "--dry-run", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid configuration"), "{}", stderr(&out));

    // A root directory that cannot be written: permission denied names the fix. (Skipped
    // as root, who may write anywhere.)
    let locked = dir.0.join("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(locked.join("probe"), "").is_err() {
        let out = openrtmp(&["service", "install", "--root", locked.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("permission denied"), "{err}");
        assert!(err.contains("run as root (sudo) or use --user"), "{err}");
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = openrtmp(&["service", "--help"]);
    assert!(stdout(&out).contains("install") && stdout(&out).contains("uninstall"));
}
