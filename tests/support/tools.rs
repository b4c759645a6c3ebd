//! The benchmark's tools that some tests run (`pulse-loadgen`). They are a
//! workspace member of their own (`bench/loadgen`), so that the product's
//! build never compiles them, and so cargo gives these tests no
//! `CARGO_BIN_EXE_` for them: they are found in the same target directory
//! as the test executable, where `cargo build -p pulse-loadgen` with the
//! same profile and target directory puts them (scripts/test does that
//! before the Rust tests).

use std::path::{Path, PathBuf};

/// The `pulse-loadgen` binary beside this test's build. Fails, saying how
/// to build it, when it is missing or older than its sources: a test must
/// not run a stale generator, nor pass or skip without one.
pub fn loadgen() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lies in <target>/<profile>/deps");
    let profile = profile_dir.file_name().unwrap().to_string_lossy();
    let release = if profile == "release" {
        " --release"
    } else {
        ""
    };
    let how = format!(
        "build it first with `cargo build -p pulse-loadgen{release}` (same CARGO_TARGET_DIR; \
         scripts/test does this before the Rust tests)"
    );
    let path = profile_dir.join("pulse-loadgen");
    let built = match std::fs::metadata(&path).and_then(|m| m.modified()) {
        Ok(built) => built,
        Err(e) => panic!("no pulse-loadgen at {} ({e}): {how}", path.display()),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = [
        "bench/loadgen/Cargo.toml",
        "bench/loadgen/src/loadgen.rs",
        "src/hub/ids.rs",
    ];
    for source in sources {
        let changed = std::fs::metadata(root.join(source)).and_then(|m| m.modified());
        if changed.is_ok_and(|changed| changed > built) {
            panic!("{} is older than {source}: {how}", path.display());
        }
    }
    path
}
