//! Hot reload: the file is watched (inotify through `notify`, with a slow
//! poll behind it for filesystems that send no events, like some network
//! and container mounts), and every changed content is parsed and handed
//! on, valid or not, as is every new reason the file cannot be read (a
//! FIFO renamed over it, an oversize file). Deciding what to do with a bad
//! file is the caller's. Reading blocks, so the watch runs on a thread of
//! its own, never on the async runtime.

use super::{Config, ConfigError, ConfigFile, parse_file, read};
use notify::{RecursiveMode, Watcher};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;
use tokio::sync::mpsc;

/// Editors save in steps (truncate, write, rename); wait this long after
/// the first event so that the file is read once, whole.
const SETTLE: Duration = Duration::from_millis(200);
/// The fallback poll, for mounts where change events never come.
const POLL: Duration = Duration::from_secs(5);

/// What was last handed on, so that only real changes are reported.
enum Seen {
    Text(String),
    Unreadable(ConfigError),
}

/// Each change of the file's content, parsed, and each new reason it
/// cannot be read. `current` is the content already applied. The watch
/// ends soon after the receiver is dropped (at the next event or poll).
pub(crate) fn watch(
    file: &ConfigFile,
    current: String,
) -> Result<mpsc::Receiver<Result<Config, ConfigError>>, String> {
    let (poke, poked) = std::sync::mpsc::channel::<()>();
    let name = file.path.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Any event in the directory naming the file: created, written,
        // renamed over. An error from the watcher also triggers a re-read.
        let concerns_file = match &event {
            Ok(event) => event.paths.iter().any(|p| p.file_name() == name.as_deref()),
            Err(_) => true,
        };
        if concerns_file {
            let _ = poke.send(());
        }
    })
    .map_err(|e| format!("cannot watch {}: {e}", file.name()))?;
    // The directory, not the file: an editor that saves by renaming a new
    // file over the old one would otherwise end the watch.
    let dir = file.dir();
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;

    let (changes, receiver) = mpsc::channel(4);
    let watched = file.clone();
    std::thread::Builder::new()
        .name("pulse-config-watch".into())
        .spawn(move || {
            let _watcher = watcher;
            follow(&watched, Seen::Text(current), &poked, &changes);
        })
        .map_err(|e| format!("cannot watch {}: {e}", file.name()))?;
    Ok(receiver)
}

/// Reads the file now (a change made since it was loaded counts), then at
/// each event and poll, until nobody listens.
fn follow(
    file: &ConfigFile,
    mut seen: Seen,
    poked: &Receiver<()>,
    changes: &mpsc::Sender<Result<Config, ConfigError>>,
) {
    loop {
        if changes.is_closed() {
            return;
        }
        if let Some(change) = reread(file, &mut seen)
            && changes.blocking_send(change).is_err()
        {
            return;
        }
        match poked.recv_timeout(POLL) {
            Ok(()) => {
                std::thread::sleep(SETTLE);
                while poked.try_recv().is_ok() {}
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The file's content parsed, or why it cannot be read, unless that is
/// what was seen last.
fn reread(file: &ConfigFile, seen: &mut Seen) -> Option<Result<Config, ConfigError>> {
    match read(file) {
        Ok(text) if matches!(seen, Seen::Text(old) if *old == text) => None,
        Ok(text) if text.trim().is_empty() => {
            // Saved in steps (truncate, then write), a file is empty for a
            // moment; read then, it would remove every check. Refused
            // instead, and read again at the next change, which is its end.
            let error = ConfigError::whole_file(
                &file.name(),
                "the file is empty (still being written?); Pulse keeps running the last good config",
            );
            if matches!(seen, Seen::Unreadable(old) if *old == error) {
                return None;
            }
            *seen = Seen::Unreadable(error.clone());
            Some(Err(error))
        }
        Ok(text) => {
            let parsed = parse_file(file, &text);
            *seen = Seen::Text(text);
            Some(parsed)
        }
        Err(error) => {
            // Mid-rename the file may briefly not exist; if it is back once
            // the editor is done, the event of its return reads it.
            if !file.path.exists() {
                std::thread::sleep(SETTLE);
                if file.path.exists() {
                    return None;
                }
            }
            if matches!(seen, Seen::Unreadable(old) if *old == error) {
                return None;
            }
            *seen = Seen::Unreadable(error.clone());
            Some(Err(error))
        }
    }
}
