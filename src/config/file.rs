//! Reading the config file, and the files it names, without trusting the
//! path. Only a regular file of at most a set size is read: a FIFO would
//! block `open` until a writer came (forever, at start-up), a device like
//! `/dev/zero` or a file that keeps growing would be read until memory ran
//! out, and a directory has no text. Each is refused with a plain reason.
//! These reads block, so callers run them off the async runtime.

use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest config file read unless `--config-max-bytes` says otherwise:
/// far above a real config, where a check takes 100 to 200 bytes.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;

/// The config file, and how much of it, and of each file it names, may be
/// read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub max_bytes: u64,
}

impl ConfigFile {
    /// How the file is named in errors and on the dashboard.
    pub(crate) fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Where the files it names (`ca_file`) are found.
    pub(crate) fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }
}

/// The bytes of the regular file at `path`, if it holds at most
/// `max_bytes`; otherwise why not, as a phrase to follow the file's name.
pub(crate) fn read_bytes(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    // Looked at before opening, so that a device is never opened at all.
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    refuse_unless_regular(metadata.file_type())?;
    let (file, len) = open_regular(path)?;
    read_at_most(file, len, max_bytes)
}

/// Opens without waiting and judges the open file, which is what is read,
/// in case the path was swapped since it was looked at. O_NONBLOCK makes
/// opening a FIFO return at once instead of waiting for a writer; it
/// changes nothing for the reads of a regular file. O_NOCTTY: a terminal
/// never becomes the process's own.
fn open_regular(path: &Path) -> Result<(File, u64), String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    refuse_unless_regular(metadata.file_type())?;
    Ok((file, metadata.len()))
}

/// One byte more than allowed is read, so that a file that grew after it
/// was looked at is refused rather than cut short.
fn read_at_most(file: File, len: u64, max_bytes: u64) -> Result<Vec<u8>, String> {
    let too_large = || {
        format!(
            "larger than {max_bytes} bytes ({}), the limit (--config-max-bytes)",
            crate::text::human_bytes(max_bytes)
        )
    };
    if len > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

fn refuse_unless_regular(kind: FileType) -> Result<(), String> {
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(format!("{what}, not a regular file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pulse.toml");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_bytes(&path, 10).unwrap(), b"0123456789");
        let refused = read_bytes(&path, 9).unwrap_err();
        assert_eq!(
            refused,
            "larger than 9 bytes (9 B), the limit (--config-max-bytes)"
        );
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_bytes(dir.path(), 100).unwrap_err(),
            "a directory, not a regular file"
        );
        assert_eq!(
            read_bytes(Path::new("/dev/zero"), 100).unwrap_err(),
            "a character device, not a regular file"
        );
        let missing = read_bytes(&dir.path().join("nope"), 100).unwrap_err();
        assert!(missing.contains("No such file"), "{missing}");
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pulse.toml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo works");
        assert_eq!(
            read_bytes(&fifo, 100).unwrap_err(),
            "a FIFO (named pipe), not a regular file"
        );
        // The open itself, as when a FIFO is swapped in after the first look:
        // without O_NONBLOCK it would wait here for a writer.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(open_regular(&fifo).map(|_| ())));
        let opened = finished
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("opening a FIFO returns at once");
        assert_eq!(
            opened.unwrap_err(),
            "a FIFO (named pipe), not a regular file"
        );
    }

    #[test]
    fn a_device_is_read_no_further_than_the_limit() {
        // What a file swapped for a device (or growing) comes down to: the
        // open file is endless, and reading stops one byte past the limit.
        let zero = File::open("/dev/zero").unwrap();
        let refused = read_at_most(zero, 0, 4096).unwrap_err();
        assert!(refused.starts_with("larger than 4096 bytes"), "{refused}");
    }
}
