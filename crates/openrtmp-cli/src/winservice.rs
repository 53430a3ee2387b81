//! Running under the Windows Service Control Manager: `openrtmp serve --service ...` as the
//! service's command line (see docs/service.md). Stop and system shutdown requests start a
//! graceful shutdown; the service reports Running once the listeners are bound and Stopped
//! when the server has ended.
//!
//! This module knows nothing of `serve`: `main` hands it the two things the service needs
//! (run the server, ask it to stop), so the dependency runs one way.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

/// The service name used with `sc.exe create`.
pub const SERVICE_NAME: &str = "openrtmp";

define_windows_service!(ffi_service_main, service_main);

/// What the service runs: the server to its end, and a graceful stop request.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Serves until the server has ended (the service's own command line holds the options).
    pub serve: fn() -> ExitCode,
    /// Starts a graceful shutdown of the running server, if any.
    pub stop: fn(),
}

/// Set once by [`run`]; `service_main` is called by the SCM with no way to pass it along.
static SERVICE: OnceLock<Service> = OnceLock::new();

/// Hands the process to the Service Control Manager; returns when the service stopped.
pub fn run(service: Service) -> Result<(), String> {
    let _ = SERVICE.set(service);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(|e| {
        format!("not started by the Service Control Manager ({e}); run without --service")
    })
}

fn service_main(_arguments: Vec<OsString>) {
    if let Err(e) = run_service() {
        eprintln!("openrtmp service: {e}");
    }
}

fn status(
    state: ServiceState,
    accept: ServiceControlAccept,
    code: u32,
    wait: Duration,
) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(code),
        checkpoint: 0,
        wait_hint: wait,
        process_id: None,
    }
}

fn run_service() -> windows_service::Result<()> {
    let Some(service) = SERVICE.get().copied() else {
        // Only `run` starts the dispatcher, after setting SERVICE.
        return Ok(());
    };
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            (service.stop)();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let status_handle = service_control_handler::register(SERVICE_NAME, handler)?;
    let accept = ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN;
    status_handle.set_service_status(status(ServiceState::Running, accept, 0, Duration::ZERO))?;
    // The service's own command line (ImagePath) holds the serve options.
    let code = (service.serve)();
    let exit = u32::from(code != ExitCode::SUCCESS);
    status_handle.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        exit,
        Duration::ZERO,
    ))?;
    Ok(())
}
