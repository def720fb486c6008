//! CPU time of a process (`/proc/PID/stat`) and of the whole machine
//! (`/proc/stat`), for the benchmarks.

use std::sync::OnceLock;
use std::time::Duration;

/// CPU time (user and system) that `pid` (a process id, or `self`) has used
/// so far.
pub(crate) fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): utime is the
    // 14th field of the line, stime the 15th, in clock ticks.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let ticks: u64 = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|t| t.parse::<u64>().unwrap())
        .sum();
    Duration::from_micros(ticks * 1_000_000 / clock_ticks())
}

/// CPU time the whole machine has spent busy so far, on all its cores: user,
/// nice, system, irq and softirq time from `/proc/stat` (idle, iowait and
/// time stolen by the hypervisor left out).
#[allow(dead_code)] // not every benchmark that includes this module uses it
pub(crate) fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let ticks = fields[0] + fields[1] + fields[2] + fields[5] + fields[6];
    Duration::from_micros(ticks * 1_000_000 / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if that fails).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100)
    })
}
