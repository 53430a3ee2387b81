//! CPU time and memory of the server under test, read from Linux's `/proc/PID/stat` and
//! `/proc/PID/status` (`--server-pid`), so CPU is charged to exactly the measured window;
//! and the kernel's interrupt work on the server's CPU (`--server-cpu`, [`CpuSamples`]).

use std::time::Duration;

mod softirq;

pub use softirq::{CpuProbe, CpuSample, CpuSamples, IrqAccounting, SoftirqUsage};

/// Clock ticks per second of `/proc/PID/stat` times. `USER_HZ` is 100 on every Linux
/// architecture we run on (it is part of the kernel ABI, independent of `CONFIG_HZ`);
/// reading it with `sysconf(_SC_CLK_TCK)` would need `unsafe` libc calls.
pub const USER_HZ: u64 = 100;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// VmRSS, KiB.
    pub rss_kb: u64,
    /// VmHWM (peak RSS), KiB.
    pub hwm_kb: u64,
}

impl ProcSample {
    /// CPU time from `earlier` to `self`.
    pub fn cpu_since(&self, earlier: &ProcSample) -> Duration {
        let ticks = self.cpu_ticks.saturating_sub(earlier.cpu_ticks);
        Duration::from_millis(ticks.saturating_mul(1000) / USER_HZ)
    }
}

/// The server's readings at the three points of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSamples {
    /// The server's process id.
    pub pid: u32,
    /// Before any connection was made.
    pub before: ProcSample,
    /// At the start of the measured window (every connection set up).
    pub window_start: ProcSample,
    /// At the end of the measured window.
    pub window_end: ProcSample,
}

/// Reads process `pid`; `None` if it is gone or the files are not as expected.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu_ticks: cpu_ticks(&stat)?,
        rss_kb: status_kb(&status, "VmRSS")?,
        hwm_kb: status_kb(&status, "VmHWM")?,
    })
}

/// utime + stime of process or thread `pid`, in clock ticks (kernel threads have no memory
/// figures, so [`sample`] does not fit them).
fn sample_cpu_ticks(pid: u32) -> Option<u64> {
    cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime (fields 14 and 15 of proc(5) `stat`). The command name (field 2) is in
/// parentheses and may hold spaces and parentheses, so fields are counted after the last
/// `)`: the first one there is field 3.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `Key:   123 kB` line of proc(5) `status`.
fn status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "1234 (nginx: a (b)) S 1 1234 1234 0 -1 4194560 2000 0 0 0 157 43 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(200));
        assert_eq!(cpu_ticks("1 (x) S 1"), None);
        let status = "Name:\tnginx\nVmHWM:\t   28148 kB\nVmRSS:\t   27000 kB\n";
        assert_eq!(status_kb(status, "VmRSS"), Some(27_000));
        assert_eq!(status_kb(status, "VmHWM"), Some(28_148));
        assert_eq!(status_kb(status, "VmSwap"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let me = sample(std::process::id()).expect("/proc is readable");
        assert!(me.rss_kb > 0 && me.hwm_kb >= me.rss_kb);
        let later = ProcSample { cpu_ticks: me.cpu_ticks + 150, ..me };
        assert_eq!(later.cpu_since(&me), Duration::from_millis(1500));
    }
}
