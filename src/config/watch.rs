//! Hot reload: the file is watched (inotify through `notify`, with a slow
//! poll behind it for filesystems that send no events, like some network
//! and container mounts), and every changed content is parsed and handed
//! on, valid or not. Deciding what to do with a bad file is the caller's.

use super::{Config, ConfigError, parse_file, read};
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Editors save in steps (truncate, write, rename); wait this long after
/// the first event so that the file is read once, whole.
const SETTLE: Duration = Duration::from_millis(200);
/// The fallback poll, for mounts where change events never come.
const POLL: Duration = Duration::from_secs(5);

/// Each change of the file's content, parsed. `current` is the content
/// already applied, so only real changes are reported. The watch ends when
/// the receiver is dropped.
pub fn watch(
    path: &Path,
    current: String,
) -> Result<mpsc::Receiver<Result<Config, ConfigError>>, String> {
    let (poke, mut poked) = mpsc::unbounded_channel::<()>();
    let name = path.file_name().map(|n| n.to_os_string());
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
    .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
    // The directory, not the file: an editor that saves by renaming a new
    // file over the old one would otherwise end the watch.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;

    let (changes, receiver) = mpsc::channel(4);
    let path = path.to_path_buf();
    tokio::spawn(async move {
        let _watcher = watcher;
        let mut applied = current;
        let mut poll = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                event = poked.recv() => {
                    if event.is_none() { return; }
                    tokio::time::sleep(SETTLE).await;
                    while poked.try_recv().is_ok() {}
                }
                _ = poll.tick() => {}
                _ = changes.closed() => return,
            }
            let result = match read(&path) {
                Ok(text) if text == applied => continue,
                Ok(text) => {
                    let parsed = parse_file(&path, &text);
                    applied = text;
                    parsed
                }
                // Mid-rename the file may briefly not exist; the next event
                // or poll reads it again.
                Err(error) => {
                    tokio::time::sleep(SETTLE).await;
                    if path.exists() {
                        continue;
                    }
                    applied.clear();
                    Err(error)
                }
            };
            if changes.send(result).await.is_err() {
                return;
            }
        }
    });
    Ok(receiver)
}
