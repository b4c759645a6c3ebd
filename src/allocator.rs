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
//! such pages; after 10 minutes, about 2 MiB (docs/benchmarks.md). With
//! one arena and no per-thread cache, the same 30 s left 0.2 MiB, at the
//! same throughput and latency (a stream allocates when it opens, not per
//! event).
//!
//! glibc reads these settings only from `GLIBC_TUNABLES` when a process
//! starts (there is no `mallopt` for the cache), so the server starts itself
//! again, once, with them added. Tunables already set are left as they are:
//! setting `glibc.malloc.tcache_count` yourself turns this off.
//!
//! Once means once. In secure mode (a setuid or setgid binary, or one with
//! file capabilities, run by someone it lifts) glibc ignores
//! `GLIBC_TUNABLES`, so the new process would never see the tuning and
//! would start itself again forever; there the tuning is skipped. And the
//! new process is told by a marker in its environment that it is the
//! restarted one, so it runs with whatever allocator it got, whatever the
//! reason the tunables did not take.

/// What this process asks of glibc's malloc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNED: &str = "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1";

/// Set for the restarted process, which removes it before anything else
/// reads the environment.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RESTARTED: &str = "PULSE_MALLOC_RESTARTED";

/// What to do about the allocator at start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[derive(Debug, PartialEq, Eq)]
enum Start {
    /// Start again with these `GLIBC_TUNABLES`.
    Restart(String),
    /// Run with the allocator as it is.
    AsIs,
}

/// The decision, from the `GLIBC_TUNABLES` this process got, whether it is
/// the restarted one, and whether it runs in secure mode.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn decide(current: &str, restarted: bool, secure: bool) -> Start {
    if restarted || secure || current.contains("glibc.malloc.tcache_count") {
        return Start::AsIs;
    }
    Start::Restart(match current {
        "" => TUNED.to_string(),
        set => format!("{set}:{TUNED}"),
    })
}

/// Replaces this process with itself under the tuned allocator, unless it
/// already runs under it (or someone chose otherwise, or it cannot work).
/// Call first in `main`, before anything else is set up and before any
/// other thread starts: on success it does not return.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn run_with_tuned_malloc() {
    use std::os::unix::process::CommandExt;
    let restarted = std::env::var_os(RESTARTED).is_some();
    if restarted {
        // SAFETY: nothing else runs yet (the caller's contract), so no
        // other thread can be reading the environment.
        unsafe { std::env::remove_var(RESTARTED) };
    }
    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let Start::Restart(tunables) = decide(&current, restarted, secure_mode()) else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        command.arg0(name);
    }
    let error = command
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .env(RESTARTED, "1")
        .exec();
    // `exec` returns only if it failed; the server works without the tuning.
    eprintln!("pulse: running with glibc's default malloc ({error})");
}

/// Whether the kernel started this process in secure mode, in which glibc
/// drops `GLIBC_TUNABLES`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn secure_mode() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector the kernel gave
    // this process; it takes no pointers.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn run_with_tuned_malloc() {}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn a_plain_start_restarts_once_with_the_tuning_added() {
        assert_eq!(decide("", false, false), Start::Restart(TUNED.into()));
        assert_eq!(
            decide("glibc.malloc.check=3", false, false),
            Start::Restart(format!("glibc.malloc.check=3:{TUNED}"))
        );
    }

    #[test]
    fn the_restarted_process_never_restarts_even_if_the_tuning_did_not_take() {
        assert_eq!(decide("", true, false), Start::AsIs);
        assert_eq!(decide(TUNED, true, false), Start::AsIs);
    }

    #[test]
    fn secure_mode_is_run_as_is_since_glibc_would_drop_the_tuning() {
        assert_eq!(decide("", false, true), Start::AsIs);
    }

    #[test]
    fn a_cache_size_of_ones_own_turns_the_tuning_off() {
        assert_eq!(
            decide("glibc.malloc.tcache_count=5", false, false),
            Start::AsIs
        );
    }
}
