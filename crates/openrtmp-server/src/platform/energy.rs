//! Process figures for [`super::EnergyStats`] that only the OS knows.

/// Context switches (voluntary + involuntary) of every thread of this process since it
/// started: each is a thread waking up (or being preempted). From
/// `/proc/self/task/*/status` on Linux and Android; 0 elsewhere.
pub(crate) fn wakeups() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        tasks
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
            .map(|status| context_switches(&status))
            .sum()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        0
    }
}

/// The sum of `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` in one procfs
/// `status` file.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
fn context_switches(status: &str) -> u64 {
    status
        .lines()
        .filter(|l| {
            l.starts_with("voluntary_ctxt_switches:")
                || l.starts_with("nonvoluntary_ctxt_switches:")
        })
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_procfs_status() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(super::context_switches(status), 15);
    }
}
