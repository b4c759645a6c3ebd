//! Pulse installed setuid or with file capabilities. The kernel then starts
//! it in secure mode, where glibc ignores `GLIBC_TUNABLES`, and the
//! allocator tuning (src/allocator.rs), which starts the process again under
//! those tunables, must not start it again and again: once looped at 100 %
//! CPU and never answered, not even `--version`. A copy of the binary, made
//! setuid root or given a capability, is run as `nobody`: it must print its
//! version, and start and serve.
//!
//! Needs root (to make the copies and change user), setpriv (util-linux),
//! setcap (libcap2-bin, which scripts/setup installs) and a filesystem for
//! the copy that honours setuid bits and capabilities. CI has all of them;
//! where one is missing the test fails and says which, rather than pass
//! without asserting anything.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::Server;
use tokio::process::Command;

/// How long `--version` may take; the looping binary never finished.
const VERSION_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_setuid_root_copy_run_by_nobody_starts_once_and_serves() {
    let copy = privileged_copy("setuid root", |path| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o4755))
            .map_err(|e| format!("chmod 4755: {e}"))
    });
    runs_as_nobody(&copy.path).await;
}

#[tokio::test]
async fn a_copy_with_a_file_capability_run_by_nobody_starts_once_and_serves() {
    let copy = privileged_copy("cap_net_bind_service", |path| {
        let status = std::process::Command::new("setcap")
            .arg("cap_net_bind_service=+ep")
            .arg(path)
            .status()
            .map_err(|e| format!("setcap cannot run ({e}); scripts/setup installs libcap2-bin"))?;
        match status.success() {
            true => Ok(()),
            false => Err(format!("setcap failed ({status})")),
        }
    });
    runs_as_nobody(&copy.path).await;
}

/// What a privileged copy must do for `nobody`: answer `--version` and
/// exit, then run as a server, in secure mode, and serve `/healthz`.
async fn runs_as_nobody(copy: &Path) {
    let version = as_nobody(copy)
        .arg("--version")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("setpriv starts");
    let output = tokio::time::timeout(VERSION_WITHIN, version.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`pulse --version` still running after {VERSION_WITHIN:?}"))
        .unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        printed.trim(),
        concat!("pulse ", env!("CARGO_PKG_VERSION")),
        "{printed}"
    );

    let server = Server::launch(as_nobody(copy), &[], &[]).await;
    assert!(
        secure_mode_of(server.pid()),
        "the copy did not run in secure mode, so this test proves nothing"
    );
    let answer = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(answer.status(), 200);
}

/// A copy of the pulse binary in a directory `nobody` can reach, made
/// privileged by `privilege`. Panics, saying what is missing, where this
/// machine cannot run such a copy.
fn privileged_copy(what: &str, privilege: impl FnOnce(&Path) -> Result<(), String>) -> Copy {
    let cannot = |why: String| -> ! {
        panic!("cannot test a {what} copy here: {why} (CI runs as root after scripts/setup)")
    };
    // SAFETY: geteuid only reads this process's credentials.
    if unsafe { libc::geteuid() } != 0 {
        cannot("it needs root, to make a privileged copy and run it as nobody".into());
    }
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        cannot("setpriv (util-linux) is not installed".into());
    }
    let dir = tempfile::tempdir().unwrap();
    if let Some(mount) = nosuid_mount_of(dir.path()) {
        cannot(format!(
            "{} is on {mount}, mounted nosuid, where setuid bits and file capabilities are \
             ignored; point TMPDIR at a filesystem without nosuid",
            dir.path().display()
        ));
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("pulse");
    std::fs::copy(env!("CARGO_BIN_EXE_pulse"), &path).unwrap();
    if let Err(why) = privilege(&path) {
        cannot(why);
    }
    Copy { _dir: dir, path }
}

/// A privileged copy; removed when dropped.
struct Copy {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// `copy`, to be run as `nobody` with no supplementary groups.
fn as_nobody(copy: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(copy);
    command
}

/// The mount point holding `path`, if that mount is `nosuid`.
fn nosuid_mount_of(path: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let path = path.canonicalize().unwrap();
    let (point, options) = mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            Some((fields.get(1)?.to_string(), fields.get(3)?.to_string()))
        })
        .filter(|(point, _)| path.starts_with(point))
        .max_by_key(|(point, _)| point.len())?;
    options
        .split(',')
        .any(|option| option == "nosuid")
        .then_some(point)
}

/// Whether the kernel started `pid` in secure mode: `AT_SECURE` in its
/// auxiliary vector, pairs of native words (type, value).
fn secure_mode_of(pid: u32) -> bool {
    const WORD: usize = std::mem::size_of::<usize>();
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).unwrap();
    auxv.chunks_exact(2 * WORD).any(|pair| {
        let word = |at: usize| usize::from_ne_bytes(pair[at..at + WORD].try_into().unwrap());
        word(0) == libc::AT_SECURE as usize && word(WORD) != 0
    })
}
