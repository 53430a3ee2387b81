//! `openrtmp service install|uninstall`: registers the server with the operating system's
//! service manager (systemd on Linux, launchd on macOS, the Service Control Manager on
//! Windows, plus a Windows Firewall rule). See docs/service.md.
//!
//! The platform is chosen at run time inside the functions below; the file contents and
//! command lines come from pure functions in the platform modules, which are compiled (and
//! unit-tested) on every platform.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use clap::Subcommand;

mod launchd;
mod systemd;
mod windows;

/// `openrtmp service ...`
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Install the server as a system service (systemd unit, launchd plist, or Windows
    /// service with a firewall rule) and start it.
    Install(InstallArgs),
    /// Stop and remove a service installed with `service install`.
    Uninstall(UninstallArgs),
}

/// Options shared by `install` and `uninstall`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// A per-user service (systemd --user unit, launchd LaunchAgent) instead of a
    /// system-wide one. Not on Windows.
    #[arg(long)]
    pub user: bool,
    /// Prefix every written or removed path with DIR (packaging, tests); runs no service
    /// manager command. Not on Windows.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Service name: systemd unit `NAME.service`, launchd label `org.openrtmp.NAME`,
    /// Windows service NAME.
    #[arg(long, default_value = "openrtmp", value_name = "NAME")]
    pub name: String,
    /// Print what would be written and run, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `openrtmp service install`
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Configuration file the service runs with (made absolute). Default:
    /// /etc/openrtmp/openrtmp.yaml (Linux), ~/.config/openrtmp/openrtmp.yaml (Linux,
    /// --user), /usr/local/etc/openrtmp/openrtmp.yaml (macOS),
    /// ~/Library/Application Support/OpenRTMP/openrtmp.yaml (macOS, --user),
    /// %ProgramData%\OpenRTMP\openrtmp.yaml (Windows).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The openrtmp executable the service runs (made absolute). Default: this one.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Register the service but do not enable or start it.
    #[arg(long)]
    pub no_start: bool,
}

/// `openrtmp service uninstall`
#[derive(Debug, Clone, clap::Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs a `service` subcommand; prints what was done.
pub fn main(command: ServiceCommand) -> ExitCode {
    let result = match command {
        ServiceCommand::Install(args) => install(&args),
        ServiceCommand::Uninstall(args) => uninstall(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openrtmp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The service managers `service` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Systemd,
    Launchd,
    Windows,
}

fn platform() -> anyhow::Result<Platform> {
    if cfg!(target_os = "linux") {
        Ok(Platform::Systemd)
    } else if cfg!(target_os = "macos") {
        Ok(Platform::Launchd)
    } else if cfg!(windows) {
        Ok(Platform::Windows)
    } else {
        bail!(
            "`service` does not support this platform ({}): it knows Linux (systemd), macOS \
             (launchd) and Windows; see docs/service.md to run `openrtmp serve` under your \
             service manager",
            std::env::consts::OS
        )
    }
}

fn install(args: &InstallArgs) -> anyhow::Result<()> {
    check_name(&args.common.name)?;
    match platform()? {
        Platform::Systemd => systemd::install(args),
        Platform::Launchd => launchd::install(args),
        Platform::Windows => windows::install(args),
    }
}

fn uninstall(args: &UninstallArgs) -> anyhow::Result<()> {
    check_name(&args.common.name)?;
    match platform()? {
        Platform::Systemd => systemd::uninstall(args),
        Platform::Launchd => launchd::uninstall(args),
        Platform::Windows => windows::uninstall(args),
    }
}

/// Service names end up in file names, unit names and labels: keep them plain.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        bail!("invalid --name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'")
    }
}

/// `path` as seen from `root` (or itself without a root). `path` must be absolute.
fn rooted(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(root) => {
            let relative: PathBuf = path
                .components()
                .filter(|c| {
                    !matches!(c, std::path::Component::RootDir | std::path::Component::Prefix(_))
                })
                .collect();
            root.join(relative)
        }
        None => path.to_path_buf(),
    }
}

/// The user's home directory, from the environment.
fn home() -> anyhow::Result<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    match std::env::var_os(var) {
        Some(home) if Path::new(&home).is_absolute() => Ok(PathBuf::from(home)),
        _ => bail!("--user needs the home directory, but ${var} is unset or not absolute"),
    }
}

fn absolute(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make the {what} {path:?} absolute"))
}

/// The executable the service runs: `--binary` or this one, absolute.
fn binary(args: &InstallArgs) -> anyhow::Result<PathBuf> {
    match &args.binary {
        Some(path) => absolute(path, "--binary path"),
        // Resolve symbolic links on Unix; on Windows `canonicalize` would give a `\\?\`
        // path, and `current_exe` is absolute already.
        None => std::env::current_exe()
            .and_then(|exe| if cfg!(windows) { Ok(exe) } else { exe.canonicalize() })
            .context("cannot find the path of this executable; pass --binary"),
    }
}

/// Validates the configuration file when it can be read here (not under `--root`).
fn check_config(args: &InstallArgs, config: &Path) -> anyhow::Result<()> {
    if args.common.root.is_some() {
        return Ok(());
    }
    if config.exists() {
        openrtmp_config::check_file(config)
            .map_err(|errors| anyhow!("{}: invalid configuration:\n{errors}", config.display()))?;
        println!("configuration {}: ok", config.display());
    } else if args.common.dry_run || args.no_start {
        println!(
            "note: the configuration {} does not exist yet; create it before starting the \
             service (dist/openrtmp.example.yaml lists every key)",
            config.display()
        );
    } else {
        bail!(
            "the configuration {} does not exist: create it (dist/openrtmp.example.yaml lists \
             every key), pass another with --config, or use --no-start",
            config.display()
        );
    }
    Ok(())
}

/// One step of an install or uninstall on Unix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    CreateDir(PathBuf),
    Write {
        path: PathBuf,
        contents: String,
    },
    Remove(PathBuf),
    /// A command; a failure is an error unless `tolerate_failure`.
    Run {
        program: String,
        args: Vec<String>,
        tolerate_failure: bool,
    },
}

impl Action {
    fn run(program: &str, args: &[&str]) -> Self {
        Action::Run {
            program: program.into(),
            args: args.iter().map(|&a| a.to_owned()).collect(),
            tolerate_failure: false,
        }
    }

    fn run_tolerant(program: &str, args: &[&str]) -> Self {
        Action::Run {
            program: program.into(),
            args: args.iter().map(|&a| a.to_owned()).collect(),
            tolerate_failure: true,
        }
    }
}

fn command_text(program: &str, args: &[String]) -> String {
    let mut text = program.to_owned();
    for arg in args {
        text.push(' ');
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
            text.push('\'');
            text.push_str(&arg.replace('\'', r"'\''"));
            text.push('\'');
        } else {
            text.push_str(arg);
        }
    }
    text
}

/// What to tell the user when a path cannot be written: `hint` says how to get the right.
fn io_error(e: std::io::Error, doing: &str, path: &Path, hint: &str) -> anyhow::Error {
    if e.kind() == ErrorKind::PermissionDenied {
        anyhow!("cannot {doing} {}: permission denied; {hint}", path.display())
    } else {
        anyhow!("cannot {doing} {}: {e}", path.display())
    }
}

/// Carries out (or with `dry_run` prints) `actions` in order; `hint` is added to permission
/// errors.
fn execute(actions: &[Action], dry_run: bool, hint: &str) -> anyhow::Result<()> {
    for action in actions {
        match action {
            Action::CreateDir(path) => {
                if dry_run {
                    println!("would create directory {}", path.display());
                } else if !path.is_dir() {
                    std::fs::create_dir_all(path).map_err(|e| io_error(e, "create", path, hint))?;
                    println!("created directory {}", path.display());
                }
            }
            Action::Write { path, contents } => {
                if dry_run {
                    println!("would write {}:", path.display());
                    println!("{}", contents.trim_end());
                    continue;
                }
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| io_error(e, "create", parent, hint))?;
                }
                let existed = path.exists();
                std::fs::write(path, contents).map_err(|e| io_error(e, "write", path, hint))?;
                let verb = if existed { "replaced" } else { "wrote" };
                println!("{verb} {}", path.display());
            }
            Action::Remove(path) => {
                if dry_run {
                    println!("would remove {}", path.display());
                } else {
                    match std::fs::remove_file(path) {
                        Ok(()) => println!("removed {}", path.display()),
                        Err(e) if e.kind() == ErrorKind::NotFound => {
                            println!("nothing to remove: {} does not exist", path.display())
                        }
                        Err(e) => return Err(io_error(e, "remove", path, hint)),
                    }
                }
            }
            Action::Run { program, args, tolerate_failure } => {
                let text = command_text(program, args);
                if dry_run {
                    println!("would run: {text}");
                    continue;
                }
                println!("running: {text}");
                let status = match std::process::Command::new(program).args(args).status() {
                    Ok(status) => status,
                    Err(e) if e.kind() == ErrorKind::NotFound => bail!(
                        "{program} not found: this system does not seem to run {}; use --root \
                         to only write the files",
                        if program == "systemctl" { "systemd" } else { "launchd" }
                    ),
                    Err(e) => bail!("cannot run {text}: {e}"),
                };
                if !status.success() {
                    if *tolerate_failure {
                        println!("  ({text} failed with {status}; continuing)");
                    } else {
                        bail!("`{text}` failed ({status})");
                    }
                }
            }
        }
    }
    Ok(())
}

/// Converts to the `OsString` arguments a service manager API takes.
fn os_args(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["openrtmp", "live-2", "a.b_c"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "a b", "a/b", "a@b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rooted_paths() {
        let root = Path::new("/tmp/r");
        assert_eq!(
            rooted(Some(root), Path::new("/etc/systemd/system/x.service")),
            Path::new("/tmp/r/etc/systemd/system/x.service")
        );
        assert_eq!(rooted(None, Path::new("/etc/x")), Path::new("/etc/x"));
    }

    #[test]
    fn command_texts_quote() {
        let args = vec!["bootstrap".to_owned(), "/a b/c.plist".to_owned()];
        assert_eq!(command_text("launchctl", &args), "launchctl bootstrap '/a b/c.plist'");
        assert_eq!(os_args(&["a"]), vec![OsString::from("a")]);
    }
}
