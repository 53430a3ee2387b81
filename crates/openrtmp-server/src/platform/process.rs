//! What the OS knows about this process: CPU time, resident memory and thread wake-ups, for
//! `ServerHandle::info` (`/metrics`, `GET /api/v1/server`) and `ServerHandle::energy`.
//!
//! One small direct call per figure and OS (no `sysinfo`: it would pull a whole system
//! inventory into the mobile builds for three numbers):
//!
//! | figure | Linux, Android | macOS, iOS | Windows |
//! |---|---|---|---|
//! | CPU (user + system) | `getrusage(RUSAGE_SELF)` | `getrusage(RUSAGE_SELF)` | `GetProcessTimes` |
//! | resident memory | `VmRSS` of `/proc/self/status` | `task_info(MACH_TASK_BASIC_INFO).resident_size` | `GetProcessMemoryInfo().WorkingSetSize` |
//! | wake-ups | `getrusage`: `ru_nvcsw + ru_nivcsw` | `task_info(TASK_EVENTS_INFO).csw` | unavailable |
//!
//! Resident memory is the *current* figure everywhere: `ru_maxrss` is the peak, so it is
//! never used. Darwin's `getrusage` fills `ru_nivcsw` only when the process exits, which is
//! why wake-ups come from the Mach task there. Windows keeps context switches per thread
//! only (`NtQuerySystemInformation`, a walk over every process on the machine), so the figure
//! is absent there rather than a made-up zero; so is any figure whose OS call fails.
//!
//! The only `unsafe` of the server crate outside the FFI crate is here: plain C calls that
//! fill a struct we own.

#![allow(unsafe_code)]

use std::time::Duration;

/// A reading of the process figures; `None` where this OS does not give one (or the call
/// failed, which is logged at debug).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ProcessUsage {
    /// CPU time, user + system, of every thread since the process started.
    pub(crate) cpu: Option<Duration>,
    /// Resident memory now, bytes.
    pub(crate) rss: Option<u64>,
    /// Context switches (voluntary + involuntary) of every thread since start: each is a
    /// thread waking up or being preempted.
    pub(crate) wakeups: Option<u64>,
}

/// Reads the figures now (a few system calls; no allocation on Apple and Windows, one small
/// file read on Linux and Android).
pub(crate) fn usage() -> ProcessUsage {
    let usage = os::usage();
    if usage.cpu.is_none() || usage.rss.is_none() {
        tracing::debug!(?usage, "process figures incomplete");
    }
    usage
}

/// The resident set of a procfs `status` file (`VmRSS:  1234 kB`), in bytes.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    // The kernel always writes kB; anything else is not a figure we understand.
    (words.next()? == "kB").then_some(kib.checked_mul(1024)?)
}

/// CPU time and context switches from `getrusage(RUSAGE_SELF)`.
#[cfg(unix)]
fn rusage() -> Option<(Duration, u64)> {
    // SAFETY: `rusage` is plain data for which all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage` that outlives the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "getrusage failed");
        return None;
    }
    let tv = |t: libc::timeval| {
        let secs = u64::try_from(t.tv_sec).unwrap_or(0);
        let micros = u32::try_from(t.tv_usec).unwrap_or(0).min(999_999);
        Duration::new(secs, micros * 1_000)
    };
    let count = |n: libc::c_long| u64::try_from(n).unwrap_or(0);
    Some((tv(ru.ru_utime) + tv(ru.ru_stime), count(ru.ru_nvcsw) + count(ru.ru_nivcsw)))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod os {
    use super::ProcessUsage;

    pub(super) fn usage() -> ProcessUsage {
        let ru = super::rusage();
        let rss = match std::fs::read_to_string("/proc/self/status") {
            Ok(status) => super::vm_rss(&status),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read /proc/self/status");
                None
            }
        };
        ProcessUsage { cpu: ru.map(|r| r.0), rss, wakeups: ru.map(|r| r.1) }
    }
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
mod os {
    use super::ProcessUsage;

    /// `task_events_info` of `<mach/task_info.h>` (not in the `libc` crate): eight
    /// `integer_t` counters, of which `csw` counts context switches of the task's threads,
    /// live and terminated.
    #[repr(C)]
    #[derive(Default)]
    struct TaskEventsInfo {
        faults: libc::integer_t,
        pageins: libc::integer_t,
        cow_faults: libc::integer_t,
        messages_sent: libc::integer_t,
        messages_received: libc::integer_t,
        syscalls_mach: libc::integer_t,
        syscalls_unix: libc::integer_t,
        csw: libc::integer_t,
    }
    /// `TASK_EVENTS_INFO` of `<mach/task_info.h>`.
    const TASK_EVENTS_INFO: libc::task_flavor_t = 2;

    pub(super) fn usage() -> ProcessUsage {
        let ru = super::rusage();
        // SAFETY: all-zero bytes are a valid `mach_task_basic_info` (plain integers).
        let mut basic: libc::mach_task_basic_info = unsafe { std::mem::zeroed() };
        let rss = task_info(
            libc::MACH_TASK_BASIC_INFO,
            std::ptr::addr_of_mut!(basic).cast(),
            libc::MACH_TASK_BASIC_INFO_COUNT,
        )
        .then_some(basic.resident_size);
        let mut events = TaskEventsInfo::default();
        let count = (std::mem::size_of::<TaskEventsInfo>() / std::mem::size_of::<libc::natural_t>())
            as libc::mach_msg_type_number_t;
        let wakeups = task_info(TASK_EVENTS_INFO, std::ptr::addr_of_mut!(events).cast(), count)
            .then(|| u64::try_from(events.csw).unwrap_or(0));
        ProcessUsage { cpu: ru.map(|r| r.0), rss, wakeups }
    }

    /// `task_info` on this task; true if it filled `out` (`count` `natural_t`s long).
    fn task_info(
        flavor: libc::task_flavor_t,
        out: libc::task_info_t,
        count: libc::mach_msg_type_number_t,
    ) -> bool {
        let mut count = count;
        // SAFETY: `mach_task_self` reads the task port the runtime set up at start (libc
        // deprecates it for the `mach2` crate, which we don't otherwise need); `out` points
        // to a live struct of at least `count` `natural_t`s of the layout `flavor` expects,
        // and the kernel writes at most `count` of them.
        #[allow(deprecated)]
        let kr = unsafe { libc::task_info(libc::mach_task_self(), flavor, out, &mut count) };
        if kr != libc::KERN_SUCCESS {
            tracing::debug!(kr, flavor, "task_info failed");
        }
        kr == libc::KERN_SUCCESS
    }
}

#[cfg(windows)]
mod os {
    use std::time::Duration;

    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::ProcessStatus::{
        K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessTimes};

    use super::ProcessUsage;

    pub(super) fn usage() -> ProcessUsage {
        ProcessUsage { cpu: cpu(), rss: rss(), wakeups: None }
    }

    fn cpu() -> Option<Duration> {
        let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: `GetCurrentProcess` returns a pseudo-handle that needs no closing; the four
        // pointers are to live, writable FILETIMEs.
        let ok = unsafe {
            GetProcessTimes(GetCurrentProcess(), &mut created, &mut exited, &mut kernel, &mut user)
        };
        if ok == 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "GetProcessTimes failed");
            return None;
        }
        // FILETIME durations count 100 ns intervals.
        let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
        Some(Duration::from_nanos(ticks(kernel).saturating_add(ticks(user)).saturating_mul(100)))
    }

    fn rss() -> Option<u64> {
        let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
        let mut counters = PROCESS_MEMORY_COUNTERS { cb: size, ..Default::default() };
        // SAFETY: `counters` is a live, writable PROCESS_MEMORY_COUNTERS of `size` bytes.
        let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, size) };
        if ok == 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "GetProcessMemoryInfo failed");
            return None;
        }
        Some(counters.WorkingSetSize as u64)
    }
}

/// Other Unixes (not shipped): CPU and wake-ups from `getrusage`, no resident memory.
#[cfg(all(
    unix,
    not(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "ios"))
))]
mod os {
    use super::ProcessUsage;

    pub(super) fn usage() -> ProcessUsage {
        let ru = super::rusage();
        ProcessUsage { cpu: ru.map(|r| r.0), rss: None, wakeups: ru.map(|r| r.1) }
    }
}

/// Neither Unix nor Windows (not shipped): nothing is known.
#[cfg(not(any(unix, windows)))]
mod os {
    pub(super) fn usage() -> super::ProcessUsage {
        super::ProcessUsage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1536 kB\nThreads:\t3\n";
        assert_eq!(vm_rss(status), Some(1536 * 1024));
        assert_eq!(vm_rss("Name:\tx\n"), None, "kernel threads have no VmRSS");
        assert_eq!(vm_rss("VmRSS:\tlots kB\n"), None);
        assert_eq!(vm_rss("VmRSS:\t12 MB\n"), None, "only kB is understood");
        assert_eq!(vm_rss("VmRSS:\t12\n"), None);
        assert_eq!(vm_rss(&format!("VmRSS:\t{} kB\n", u64::MAX)), None, "overflow");
    }

    /// Spins until the process has used `more` CPU beyond `from`; bounded by work, not time.
    #[cfg(any(target_os = "linux", target_os = "android", windows))]
    fn burn_cpu(from: Duration, more: Duration) -> Duration {
        let mut x = 0u64;
        for round in 0..100_000u64 {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i ^ round);
            }
            std::hint::black_box(x);
            let now = usage().cpu.unwrap_or_default();
            if now >= from + more {
                return now;
            }
        }
        panic!("100 G multiplications used less than {more:?} of CPU?");
    }

    /// The figures are there and plausible, where the OS gives them (run on Linux here and
    /// under Wine in CI's Windows job).
    #[cfg(any(target_os = "linux", target_os = "android", windows))]
    #[test]
    fn figures_are_real() {
        let before = usage();
        let cpu = before.cpu.expect("CPU time");
        let rss = before.rss.expect("resident memory");
        assert!(rss > 1 << 20, "RSS {rss} bytes: under 1 MiB is not a running test binary");
        assert!(rss < 1 << 40, "RSS {rss} bytes");
        // CPU grows with work (by at least 20 ms: several ticks of any OS clock).
        let after = burn_cpu(cpu, Duration::from_millis(20));
        assert!(after > cpu);
        // Memory that is touched becomes resident: the figure is the current one, not a
        // peak or a guess. (Half of it is asked, in case other tests free memory meanwhile.)
        let block = vec![1u8; 128 << 20];
        let grown = usage().rss.expect("resident memory");
        assert!(grown >= rss + (64 << 20), "RSS {rss} -> {grown} after touching 128 MiB");
        drop(std::hint::black_box(block));
        if cfg!(windows) {
            assert_eq!(before.wakeups, None, "Windows has no per-process context switches");
        } else {
            let wakeups = before.wakeups.expect("context switches");
            // The test harness started this thread: at least one switch happened.
            assert!(wakeups > 0);
            assert!(usage().wakeups.unwrap_or_default() >= wakeups, "a counter never falls");
        }
    }
}
