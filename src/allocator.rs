//! How the server's process uses glibc's malloc, so that memory freed when
//! streams leave can go back to the operating system.
//!
//! Thousands of connections come and go, each allocating a little. With
//! glibc's defaults, each worker thread gets its own heap (arena) and a
//! per-thread cache of recently freed small chunks. The cached chunks count
//! as in use, so they sit between free areas and keep them apart; after
//! `malloc_trim` (see `sse::trim`) each free area still keeps the page that
//! holds its header. After a 30 s churn of 5,000 clients, with all of them
//! gone, the server's heap was 1.4 MiB above where it started, nearly all
//! such pages; after 10 minutes, about 2 MiB (README, "Benchmarks"). With
//! one arena and no per-thread cache, the same 30 s left 0.2 MiB, at the
//! same throughput and latency (a stream allocates when it opens, not per
//! event).
//!
//! glibc reads these settings only from `GLIBC_TUNABLES` when a process
//! starts (there is no `mallopt` for the cache), so the server starts itself
//! again, once, with them added. Tunables already set are left as they are:
//! setting `glibc.malloc.tcache_count` yourself turns this off.

/// What this process asks of glibc's malloc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNED: &str = "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1";

/// Replaces this process with itself under the tuned allocator, unless it
/// already runs under it (or someone chose otherwise). Call first in
/// `main`, before anything else is set up: on success it does not return.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn run_with_tuned_malloc() {
    use std::os::unix::process::CommandExt;
    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains("glibc.malloc.tcache_count") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tunables = match current.as_str() {
        "" => TUNED.to_string(),
        set => format!("{set}:{TUNED}"),
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        command.arg0(name);
    }
    let error = command.args(args).env("GLIBC_TUNABLES", tunables).exec();
    // `exec` returns only if it failed; the server works without the tuning.
    eprintln!("pulse: running with glibc's default malloc ({error})");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn run_with_tuned_malloc() {}
