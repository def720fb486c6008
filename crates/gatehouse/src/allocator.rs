//! glibc's allocator: idle desktops, and bulk transfers.
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
//! A fixed threshold keeps large blocks in mappings of their own. When it
//! raises the threshold itself, glibc also raises the heap's trim
//! threshold to twice it (free memory at the heap's top beyond that is
//! given back to the system); a threshold fixed by tunable leaves the trim
//! threshold at 128 KiB, and then the blocks a bulk transfer reads into
//! and frees (hyper's read buffers of up to ~400 KiB, a tunnel's 256 KiB
//! frames) are given back and faulted in again a few at a time: a 1 GiB
//! download cost the gateway 0.35 s of CPU per GB against 0.21 s with the
//! trim threshold at 2 MiB (bench/README.md). So both are fixed, as glibc
//! pairs them.
//!
//! glibc reads them only from the `GLIBC_TUNABLES` environment variable at
//! start, so `gatehouse serve` starts itself again once, with the variable
//! set, unless it already names both (an operator's own choice of either
//! wins).

/// The glibc tunables and their fixed values: blocks of 1 MiB and more
/// (screens, recordings' pictures) are mapped and unmapped on their own,
/// and up to 2 MiB free at a heap's top stays for the next blocks.
const TUNABLES: [(&str, &str); 2] = [
    ("glibc.malloc.mmap_threshold", "1048576"),
    ("glibc.malloc.trim_threshold", "2097152"),
];

/// Starts this process again with fixed mmap and trim thresholds, if
/// glibc's are not fixed yet; returns only when that was not needed or
/// did not work (the gateway then runs with glibc's defaults).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn fix_mmap_threshold() {
    use std::os::unix::process::CommandExt;

    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let missing: Vec<String> = TUNABLES
        .iter()
        .filter(|(name, _)| !current.contains(name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tunables = std::iter::once(current)
        .filter(|c| !c.is_empty())
        .chain(missing)
        .collect::<Vec<_>>()
        .join(":");
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
