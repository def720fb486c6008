//! glibc's allocator and idle desktops.
//!
//! glibc serves a large block (over 128 KiB) with its own mapping and
//! unmaps it when freed — until the first such block is freed: then it
//! raises that threshold to the freed block's size, and from then on
//! blocks of that size come from the heap and stay with the process when
//! freed. An idle RDP desktop drops IronRDP's picture of its screen (4
//! bytes a pixel, megabytes) and rebuilds it when the screen next changes;
//! with a moving threshold the freed pictures stay resident, and an idle
//! RDP session costs about 4 MiB instead of under 1 (bench/RESULTS.md,
//! "Desktops").
//!
//! A fixed threshold keeps large blocks in mappings of their own. glibc
//! reads it only from the `GLIBC_TUNABLES` environment variable at start,
//! so `gatehouse serve` starts itself again once, with the variable set,
//! unless it already names the threshold (an operator's own choice wins).

/// The glibc tunable, and the fixed threshold: blocks of 1 MiB and more
/// (screens, recordings' pictures) are mapped and unmapped on their own.
const TUNABLE: &str = "glibc.malloc.mmap_threshold";
const THRESHOLD: &str = "1048576";

/// Starts this process again with a fixed mmap threshold, if glibc's is
/// not fixed yet; returns only when that was not needed or did not work
/// (the gateway then runs with glibc's defaults).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn fix_mmap_threshold() {
    use std::os::unix::process::CommandExt;

    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains(TUNABLE) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tunables = if current.is_empty() {
        format!("{TUNABLE}={THRESHOLD}")
    } else {
        format!("{current}:{TUNABLE}={THRESHOLD}")
    };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        again.arg0(name);
    }
    // `exec` returns only on failure.
    let error = again.args(args).env("GLIBC_TUNABLES", tunables).exec();
    eprintln!("note: running with glibc's default allocator settings ({error})");
}

/// Other C libraries: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn fix_mmap_threshold() {}
