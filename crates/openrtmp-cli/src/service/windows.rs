//! Windows: a Service Control Manager service (`windows-service`) running
//! `openrtmp.exe serve --service --config FILE`, and a Windows Firewall inbound rule for the
//! configured RTMP/RTMPS ports (COM `INetFwPolicy2`, in `firewall.rs`).
//!
//! The command line, rule name and ports are pure functions, compiled and tested everywhere;
//! the system calls are compiled on Windows only.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::bail;

use super::{InstallArgs, UninstallArgs};

#[cfg(windows)]
mod firewall;

/// The arguments after the executable in the service's command line.
pub fn launch_arguments(config: &Path) -> Vec<OsString> {
    let mut args = super::os_args(&["serve", "--service", "--config"]);
    args.push(config.as_os_str().to_owned());
    args
}

/// Quotes one argument the way `CommandLineToArgvW` reads it back.
pub fn quote_argument(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '"']) {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

/// The service's full command line (the SCM's `ImagePath`), for display.
pub fn command_line(binary: &Path, config: &Path) -> String {
    std::iter::once(binary.as_os_str().to_owned())
        .chain(launch_arguments(config))
        .map(|arg| quote_argument(&arg.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `--config` file of a service command line made by [`command_line`], if any.
// Used by the Windows-only uninstall; tested everywhere.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn config_from_command_line(command_line: &str) -> Option<PathBuf> {
    let rest = &command_line[command_line.find(" --config ")? + " --config ".len()..];
    let path = match rest.strip_prefix('"') {
        Some(quoted) => quoted[..quoted.find('"')?].trim_end_matches('\\').to_owned(),
        None => rest.split_whitespace().next()?.to_owned(),
    };
    Some(PathBuf::from(path))
}

/// The TCP ports to open: every `listen` and `rtmps_listen` port, sorted, without
/// duplicates.
pub fn tcp_ports(config: &openrtmp_server::Config) -> Vec<u16> {
    let mut ports: Vec<u16> =
        config.listen.iter().chain(&config.rtmps_listen).map(|a| a.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The firewall's `LocalPorts` value: `1935,443`.
pub fn port_list(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
}

/// The start of the names of the firewall rules of service `name`.
pub fn rule_prefix(name: &str) -> String {
    format!("OpenRTMP ({name}) TCP ")
}

/// The firewall rule's name: `OpenRTMP (openrtmp) TCP 1935,443`.
pub fn rule_name(name: &str, ports: &[u16]) -> String {
    format!("{}{}", rule_prefix(name), port_list(ports))
}

fn default_config() -> PathBuf {
    let data = std::env::var_os("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into());
    Path::new(&data).join(r"OpenRTMP\openrtmp.yaml")
}

fn reject_unix_options(user: bool, root: Option<&Path>) -> anyhow::Result<()> {
    if user {
        bail!("--user is not supported on Windows: services are system-wide (run elevated)");
    }
    if root.is_some() {
        bail!(
            "--root is not supported on Windows: the service is registered with the Service \
             Control Manager, there is no file to write"
        );
    }
    Ok(())
}

/// The effective configuration the service will run with: the file (when it exists) over
/// the defaults. The installing shell's `OPENRTMP_*` variables are not the service's.
fn effective_config(path: &Path) -> anyhow::Result<openrtmp_server::Config> {
    let file = path.exists().then_some(path);
    match openrtmp_config::load(file, &[], &openrtmp_config::FileConfig::default()) {
        Ok(loaded) => Ok(loaded.config),
        Err(errors) => bail!("{}: invalid configuration:\n{errors}", path.display()),
    }
}

/// What `install` registers.
#[derive(Debug)]
struct Plan {
    name: String,
    binary: PathBuf,
    config: PathBuf,
    ports: Vec<u16>,
    start: bool,
}

pub(super) fn install(args: &InstallArgs) -> anyhow::Result<()> {
    let common = &args.common;
    reject_unix_options(common.user, common.root.as_deref())?;
    let config = match &args.config {
        Some(config) => super::absolute(config, "configuration")?,
        None => default_config(),
    };
    super::check_config(args, &config)?;
    let plan = Plan {
        name: common.name.clone(),
        binary: super::binary(args)?,
        ports: tcp_ports(&effective_config(&config)?),
        config,
        start: !args.no_start,
    };
    let verb = if common.dry_run { "would create" } else { "creating" };
    println!("{verb} service {} (start: automatic, restart on failure):", plan.name);
    println!("  {}", command_line(&plan.binary, &plan.config));
    let verb = if common.dry_run { "would add" } else { "adding" };
    println!(
        "{verb} firewall rule \"{}\": inbound, allow TCP {} to {}",
        rule_name(&plan.name, &plan.ports),
        port_list(&plan.ports),
        plan.binary.display()
    );
    if plan.start {
        let verb = if common.dry_run { "would start" } else { "starting" };
        println!("{verb} service {}", plan.name);
    }
    if common.dry_run {
        return Ok(());
    }
    system::install(&plan)
}

pub(super) fn uninstall(args: &UninstallArgs) -> anyhow::Result<()> {
    let common = &args.common;
    reject_unix_options(common.user, common.root.as_deref())?;
    if common.dry_run {
        println!("would stop and delete service {}", common.name);
        println!("would remove the firewall rules named \"{}...\"", rule_prefix(&common.name));
        return Ok(());
    }
    system::uninstall(&common.name)
}

#[cfg(not(windows))]
mod system {
    pub(super) fn install(_plan: &super::Plan) -> anyhow::Result<()> {
        anyhow::bail!("a Windows service can only be installed on Windows")
    }

    pub(super) fn uninstall(_name: &str) -> anyhow::Result<()> {
        anyhow::bail!("a Windows service can only be removed on Windows")
    }
}

#[cfg(windows)]
mod system {
    use std::ffi::OsString;
    use std::time::{Duration, Instant};

    use anyhow::{anyhow, Context as _};
    use windows_service::service::{
        ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl,
        ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType,
        ServiceState, ServiceType,
    };
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    use super::{firewall, Plan};

    /// Shown in the Services console.
    const DISPLAY_NAME: &str = "OpenRTMP live streaming server";
    const DESCRIPTION: &str = "RTMP/RTMPS live streaming server (openrtmp serve --service)";
    const ERROR_ACCESS_DENIED: i32 = 5;
    const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
    const ERROR_SERVICE_EXISTS: i32 = 1073;

    fn os_error(e: &windows_service::Error) -> Option<i32> {
        match e {
            windows_service::Error::Winapi(io) => io.raw_os_error(),
            _ => None,
        }
    }

    fn scm_error(e: windows_service::Error, doing: &str) -> anyhow::Error {
        match os_error(&e) {
            Some(ERROR_ACCESS_DENIED) => anyhow!(
                "cannot {doing}: access denied; run from an elevated prompt (Run as \
                 administrator)"
            ),
            // The crate's Display leaves out the Windows error itself.
            _ => match e {
                windows_service::Error::Winapi(io) => anyhow!("cannot {doing}: {io}"),
                other => anyhow!("cannot {doing}: {other}"),
            },
        }
    }

    fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
        ServiceManager::local_computer(None::<&str>, access)
            .map_err(|e| scm_error(e, "open the Service Control Manager"))
    }

    pub(super) fn install(plan: &Plan) -> anyhow::Result<()> {
        let manager =
            manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        let info = ServiceInfo {
            name: OsString::from(&plan.name),
            display_name: OsString::from(if plan.name == "openrtmp" {
                DISPLAY_NAME.to_owned()
            } else {
                format!("{} ({})", DISPLAY_NAME, plan.name)
            }),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: plan.binary.clone(),
            launch_arguments: super::launch_arguments(&plan.config),
            dependencies: vec![],
            account_name: None,
            account_password: None,
        };
        let access =
            ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::QUERY_STATUS;
        let service = manager.create_service(&info, access).map_err(|e| {
            if os_error(&e) == Some(ERROR_SERVICE_EXISTS) {
                anyhow!(
                    "service {} already exists: remove it first with `openrtmp service \
                     uninstall --name {}`",
                    plan.name,
                    plan.name
                )
            } else {
                scm_error(e, "create the service")
            }
        })?;
        println!("created service {}", plan.name);
        service.set_description(DESCRIPTION).map_err(|e| scm_error(e, "set the description"))?;
        let restart = |secs| ServiceAction {
            action_type: ServiceActionType::Restart,
            delay: Duration::from_secs(secs),
        };
        let recovery = ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![restart(5), restart(5), restart(60)]),
        };
        // Recovery is a convenience: a failure here does not undo the install.
        if let Err(e) = service.update_failure_actions(recovery) {
            println!("  (restart on failure not set: {e})");
        }
        let rule = super::rule_name(&plan.name, &plan.ports);
        // Rules of an earlier install of this name (its ports may differ).
        match firewall::remove_rules(&super::rule_prefix(&plan.name)) {
            Ok(removed) => {
                for old in removed {
                    println!("removed earlier firewall rule \"{old}\"");
                }
            }
            Err(e) => println!("  (earlier firewall rules not checked: {e:#})"),
        }
        firewall::add_rule(&rule, &super::port_list(&plan.ports), &plan.binary).with_context(
            || format!("service {} created, but the firewall rule failed", plan.name),
        )?;
        println!("added firewall rule \"{rule}\"");
        if plan.start {
            service.start::<&str>(&[]).map_err(|e| {
                scm_error(e, "start the service").context(format!(
                    "service {} is installed but did not start (`sc.exe query {}`; \
                     `openrtmp service uninstall` removes it)",
                    plan.name, plan.name
                ))
            })?;
            println!("started service {}: `sc.exe query {}`", plan.name, plan.name);
        } else {
            println!("installed, not started: `sc.exe start {}` starts it", plan.name);
        }
        Ok(())
    }

    pub(super) fn uninstall(name: &str) -> anyhow::Result<()> {
        let manager = manager(ServiceManagerAccess::CONNECT)?;
        let access = ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE;
        let access = access | ServiceAccess::QUERY_CONFIG;
        // The rule name from the service's configuration, in case the rules cannot be listed.
        let mut known_rule = None;
        match manager.open_service(name, access) {
            Ok(service) => {
                known_rule = service
                    .query_config()
                    .ok()
                    .and_then(|c| {
                        super::config_from_command_line(&c.executable_path.to_string_lossy())
                    })
                    .and_then(|config| super::effective_config(&config).ok())
                    .map(|config| super::rule_name(name, &super::tcp_ports(&config)));
                let running = service
                    .query_status()
                    .map(|s| s.current_state != ServiceState::Stopped)
                    .unwrap_or(false);
                if running {
                    println!("stopping service {name}");
                    if let Err(e) = service.stop() {
                        println!("  (stop failed: {e}; deleting anyway)");
                    }
                    // The graceful shutdown takes up to shutdown.grace (30 s by default).
                    let deadline = Instant::now() + Duration::from_secs(45);
                    while Instant::now() < deadline
                        && service
                            .query_status()
                            .is_ok_and(|s| s.current_state != ServiceState::Stopped)
                    {
                        std::thread::sleep(Duration::from_millis(250));
                    }
                }
                service.delete().map_err(|e| scm_error(e, "delete the service"))?;
                println!("deleted service {name}");
            }
            Err(e) if os_error(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
                println!("nothing to remove: there is no service {name}");
            }
            Err(e) => return Err(scm_error(e, "open the service")),
        }
        let removed = match (firewall::remove_rules(&super::rule_prefix(name)), known_rule) {
            (Ok(removed), _) => removed,
            (Err(e), Some(rule)) => {
                println!("  (firewall rules not listed: {e:#}; removing \"{rule}\" by name)");
                firewall::remove_rule(&rule).context("cannot remove the firewall rule")?;
                vec![rule]
            }
            (Err(e), None) => return Err(e.context("cannot remove the firewall rule")),
        };
        if removed.is_empty() {
            println!("no firewall rule named \"{}...\"", super::rule_prefix(name));
        }
        for rule in removed {
            println!("removed firewall rule \"{rule}\"");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_command_line() {
        let binary = Path::new(r"C:\Program Files\OpenRTMP\openrtmp.exe");
        let config = Path::new(r"C:\ProgramData\OpenRTMP\openrtmp.yaml");
        assert_eq!(
            launch_arguments(config),
            ["serve", "--service", "--config", r"C:\ProgramData\OpenRTMP\openrtmp.yaml"]
                .map(OsString::from)
        );
        assert_eq!(
            command_line(binary, config),
            r#""C:\Program Files\OpenRTMP\openrtmp.exe" serve --service --config C:\ProgramData\OpenRTMP\openrtmp.yaml"#
        );
        assert_eq!(quote_argument(r"C:\a b\"), r#""C:\a b\\""#);
        assert_eq!(quote_argument(r#"a"b"#), r#""a\"b""#);
        assert_eq!(quote_argument(""), r#""""#);
        assert_eq!(config_from_command_line(&command_line(binary, config)).unwrap(), config);
        let spaced = Path::new(r"C:\My Configs\o.yaml");
        assert_eq!(config_from_command_line(&command_line(binary, spaced)).unwrap(), spaced);
        assert_eq!(config_from_command_line(r"C:\x.exe serve --service"), None);
    }

    #[test]
    fn firewall_rule_from_the_configuration() {
        let config = openrtmp_server::Config {
            listen: vec!["0.0.0.0:1935".parse().unwrap(), "[::]:1935".parse().unwrap()],
            rtmps_listen: vec!["0.0.0.0:443".parse().unwrap()],
            ..openrtmp_server::Config::default()
        };
        let ports = tcp_ports(&config);
        assert_eq!(ports, [443, 1935]);
        assert_eq!(rule_name("openrtmp", &ports), "OpenRTMP (openrtmp) TCP 443,1935");
        assert!(rule_name("live", &ports).starts_with(&rule_prefix("live")));
        let defaults = effective_config(Path::new("/nonexistent/openrtmp.yaml")).unwrap();
        assert_eq!(tcp_ports(&defaults), [1935]);
        assert_eq!(rule_name("openrtmp", &tcp_ports(&defaults)), "OpenRTMP (openrtmp) TCP 1935");
    }

    #[test]
    fn unix_options_rejected() {
        assert!(reject_unix_options(true, None).is_err());
        assert!(reject_unix_options(false, Some(Path::new("/r"))).is_err());
        assert!(reject_unix_options(false, None).is_ok());
    }
}
