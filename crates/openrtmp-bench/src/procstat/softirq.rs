//! Kernel work done on the server's CPU outside the server process (`--server-cpu N`):
//! the `cpuN` irq and softirq columns of `/proc/stat` and the CPU time of the `ksoftirqd/N`
//! kernel thread, and which of them belong in "server CPU with softirq".
//!
//! Why: on loopback the sender pays for the receiver's TCP work (the packet is processed in
//! softirq on the sending CPU), and io_uring or a softirq backlog can move that work into
//! `ksoftirqd`, where the server's own utime + stime no longer shows it. How the kernel
//! charges softirq time decides what to add (see [`IrqAccounting`]); adding every column
//! would count some of it twice.

use std::io::Read;

use super::USER_HZ;

/// How this kernel charges time spent in hard and soft interrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqAccounting {
    /// `CONFIG_IRQ_TIME_ACCOUNTING=y` (most distribution kernels): interrupt time is
    /// measured at entry and exit and charged to the CPU's irq/softirq columns only, not to
    /// the task it interrupted (which also leaves it out of the task's runtime). ksoftirqd is
    /// the exception: its time goes to its own stime and to the softirq column. So the
    /// server's share is its process CPU plus the `cpuN` irq + softirq delta.
    Precise,
    /// Tick-based accounting (kernel/sched/cputime.c `account_system_time`): a tick that
    /// lands in softirq is charged to the current task's stime *and* to the CPU's softirq
    /// column. Softirq run inline in the server's syscalls (the loopback receive path) is
    /// already in its process CPU; only what ran in `ksoftirqd/N` is missing. So the
    /// server's share is its process CPU plus ksoftirqd's; the softirq column overlaps both.
    Tick,
}

impl IrqAccounting {
    /// The name used in the JSON summary.
    pub fn as_str(self) -> &'static str {
        match self {
            IrqAccounting::Precise => "precise",
            IrqAccounting::Tick => "tick",
        }
    }
}

/// One reading of a CPU's interrupt work, in `USER_HZ` ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    /// irq + softirq columns of the `cpuN` line of `/proc/stat`.
    pub irq_softirq_ticks: u64,
    /// utime + stime of `ksoftirqd/N`; `None` when that thread was not found.
    pub ksoftirqd_ticks: Option<u64>,
}

/// The server CPU's readings at the edges of the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSamples {
    /// The CPU the server is pinned to (`--server-cpu`).
    pub cpu: u32,
    /// How the kernel charges interrupt time; `None` when its configuration is unreadable.
    pub accounting: Option<IrqAccounting>,
    /// At the start of the measured window.
    pub window_start: CpuSample,
    /// At the end of the measured window.
    pub window_end: CpuSample,
}

/// Kernel work on the server's CPU in the window, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoftirqUsage {
    /// `cpuN` irq + softirq delta (whoever was interrupted).
    pub softirq_secs: f64,
    /// `ksoftirqd/N` CPU time; `None` when the thread was not found.
    pub ksoftirqd_secs: Option<f64>,
}

fn secs(ticks: u64) -> f64 {
    ticks as f64 / USER_HZ as f64
}

impl CpuSamples {
    /// The deltas over the window.
    pub fn usage(&self) -> SoftirqUsage {
        let (a, b) = (self.window_start, self.window_end);
        SoftirqUsage {
            softirq_secs: secs(b.irq_softirq_ticks.saturating_sub(a.irq_softirq_ticks)),
            ksoftirqd_secs: a
                .ksoftirqd_ticks
                .zip(b.ksoftirqd_ticks)
                .map(|(a, b)| secs(b.saturating_sub(a))),
        }
    }

    /// The server's CPU seconds including the kernel work done for it on its CPU, given its
    /// process CPU `process_secs` in the same window; `None` when the accounting mode (or,
    /// with tick accounting, ksoftirqd) is unknown. See [`IrqAccounting`].
    pub fn with_softirq(&self, process_secs: f64) -> Option<f64> {
        let usage = self.usage();
        match self.accounting? {
            IrqAccounting::Precise => Some(process_secs + usage.softirq_secs),
            IrqAccounting::Tick => usage.ksoftirqd_secs.map(|k| process_secs + k),
        }
    }
}

/// What `--server-cpu N` reads, found once at the start of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuProbe {
    /// The CPU.
    pub cpu: u32,
    /// The pid of `ksoftirqd/N`.
    pub ksoftirqd: Option<u32>,
    /// How the kernel charges interrupt time.
    pub accounting: Option<IrqAccounting>,
}

impl CpuProbe {
    /// Finds ksoftirqd and the accounting mode for `cpu` (Linux; elsewhere both `None`).
    pub fn new(cpu: u32) -> CpuProbe {
        CpuProbe { cpu, ksoftirqd: ksoftirqd_pid(cpu), accounting: irq_accounting() }
    }

    /// Reads the CPU now; `None` when `/proc/stat` has no such CPU (or no `/proc`).
    pub fn sample(&self) -> Option<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Some(CpuSample {
            irq_softirq_ticks: cpu_irq_ticks(&stat, self.cpu)?,
            ksoftirqd_ticks: self.ksoftirqd.and_then(super::sample_cpu_ticks),
        })
    }
}

/// irq + softirq (columns 6 and 7, counting `user` as 1) of the `cpuN` line of proc(5)
/// `/proc/stat`: `cpu0 user nice system idle iowait irq softirq steal guest guest_nice`.
fn cpu_irq_ticks(stat: &str, cpu: u32) -> Option<u64> {
    let name = format!("cpu{cpu}");
    let line = stat.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let mut columns = line.split_whitespace().skip(6);
    let irq: u64 = columns.next()?.parse().ok()?;
    let softirq: u64 = columns.next()?.parse().ok()?;
    Some(irq + softirq)
}

/// The pid of the kernel thread `ksoftirqd/N`, found by name in `/proc/*/comm`.
fn ksoftirqd_pid(cpu: u32) -> Option<u32> {
    let name = format!("ksoftirqd/{cpu}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        (comm.trim_end() == name).then_some(pid)
    })
}

/// The running kernel's accounting mode, from its build configuration: `/proc/config.gz`
/// (`CONFIG_IKCONFIG_PROC`) or `/boot/config-<release>`.
fn irq_accounting() -> Option<IrqAccounting> {
    let from_proc = || {
        let file = std::fs::File::open("/proc/config.gz").ok()?;
        let mut text = String::new();
        // A kernel configuration is about 300 KB; a bound keeps a strange file harmless.
        flate2::read::GzDecoder::new(file).take(8 << 20).read_to_string(&mut text).ok()?;
        Some(text)
    };
    let from_boot = || {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
        std::fs::read_to_string(format!("/boot/config-{}", release.trim())).ok()
    };
    config_irq_accounting(&from_proc().or_else(from_boot)?)
}

/// `Precise` when the configuration sets `CONFIG_IRQ_TIME_ACCOUNTING=y`, `Tick` when it
/// does not (it says `# ... is not set` or leaves it out), `None` when this is not a kernel
/// configuration at all. `CONFIG_VIRT_CPU_ACCOUNTING_GEN` (nohz_full CPUs) also measures
/// interrupt time precisely.
fn config_irq_accounting(config: &str) -> Option<IrqAccounting> {
    let set = |key: &str| config.lines().any(|l| l.strip_prefix(key) == Some("=y"));
    if !config.lines().any(|l| l.starts_with("CONFIG_") || l.starts_with("# CONFIG_")) {
        return None;
    }
    if set("CONFIG_IRQ_TIME_ACCOUNTING") || set("CONFIG_VIRT_CPU_ACCOUNTING_GEN") {
        Some(IrqAccounting::Precise)
    } else {
        Some(IrqAccounting::Tick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first lines of this machine's /proc/stat (Linux 6.18, 2 CPUs).
    const STAT: &str = "cpu  1250430 178644 276085 643869 10104 0 10246 2435 0 0\n\
        cpu0 615892 88477 128886 342858 3501 7 5604 1178 0 0\n\
        cpu1 634538 90166 147199 301011 6602 0 4641 1256 0 0\n\
        intr 13189194 0 0 0\n\
        ctxt 123456\n";

    #[test]
    fn parses_the_cpu_line_of_proc_stat() {
        assert_eq!(cpu_irq_ticks(STAT, 0), Some(5611));
        assert_eq!(cpu_irq_ticks(STAT, 1), Some(4641));
        assert_eq!(cpu_irq_ticks(STAT, 2), None, "no such CPU");
        assert_eq!(cpu_irq_ticks("cpu0 1 2 3 4 5 6\n", 0), None, "too few columns");
        assert_eq!(cpu_irq_ticks("cpu0 1 2 3 4 5 x 7\n", 0), None);
    }

    #[test]
    fn reads_the_accounting_mode_from_the_kernel_configuration() {
        let tick = "CONFIG_TICK_CPU_ACCOUNTING=y\n# CONFIG_IRQ_TIME_ACCOUNTING is not set\n\
                    CONFIG_HAVE_IRQ_TIME_ACCOUNTING=y\n";
        assert_eq!(config_irq_accounting(tick), Some(IrqAccounting::Tick));
        let precise = "CONFIG_TICK_CPU_ACCOUNTING=y\nCONFIG_IRQ_TIME_ACCOUNTING=y\n";
        assert_eq!(config_irq_accounting(precise), Some(IrqAccounting::Precise));
        let nohz = "CONFIG_VIRT_CPU_ACCOUNTING_GEN=y\n";
        assert_eq!(config_irq_accounting(nohz), Some(IrqAccounting::Precise));
        assert_eq!(config_irq_accounting("<html>"), None);
    }

    #[test]
    fn adds_what_the_process_does_not_already_hold() {
        let at = |irq_softirq_ticks, k| CpuSample { irq_softirq_ticks, ksoftirqd_ticks: k };
        let mut s = CpuSamples {
            cpu: 0,
            accounting: Some(IrqAccounting::Tick),
            window_start: at(1000, Some(50)),
            window_end: at(1150, Some(80)),
        };
        assert_eq!(s.usage(), SoftirqUsage { softirq_secs: 1.5, ksoftirqd_secs: Some(0.3) });
        // Tick: the softirq column overlaps the process's stime and ksoftirqd's.
        assert_eq!(s.with_softirq(4.0), Some(4.3));
        s.accounting = Some(IrqAccounting::Precise);
        // Precise: the process holds none of it; ksoftirqd is inside the softirq column.
        assert_eq!(s.with_softirq(4.0), Some(5.5));
        s.accounting = None;
        assert_eq!(s.with_softirq(4.0), None);
        s.accounting = Some(IrqAccounting::Tick);
        s.window_end.ksoftirqd_ticks = None;
        assert_eq!(s.with_softirq(4.0), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_machine() {
        // ksoftirqd/0 is not visible from inside a PID namespace (a container): not asserted.
        let probe = CpuProbe::new(0);
        let sample = probe.sample().expect("/proc/stat has cpu0");
        assert_eq!(sample.ksoftirqd_ticks.is_some(), probe.ksoftirqd.is_some());
        assert_eq!(CpuProbe { cpu: 100_000, ..probe }.sample(), None);
    }
}
