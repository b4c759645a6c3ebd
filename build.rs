//! Rebuilds the server when the site it carries changes.
//!
//! A release build of the server embeds `target/site` (src/site.rs), and
//! rust-embed makes the compiler track each file it embedded, but not the
//! folder: a file that appears where there was none (the site built after a
//! server that embedded an empty folder) would not rebuild the server. Cargo
//! watches a folder named here, files added and removed included.
//!
//! Only for the server (`ssr`) with the site embedded (no debug assertions,
//! as rust-embed decides): a debug server reads the site from disk, and the
//! browser bundle must not be rebuilt because the site it wrote changed.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let server = std::env::var_os("CARGO_FEATURE_SSR").is_some();
    let embeds = std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_none();
    if server && embeds {
        // `site-root` in Cargo.toml, relative to this crate, as in src/site.rs.
        // Cargo counts a path that does not exist as changed on every
        // build, so on a clean clone (the site not built yet, or built
        // into another target directory) every `cargo test` after the
        // first would compile the server and every test binary again: the
        // folder is made, empty, which is what the server embeds then
        // anyway (made during a build, it still costs one more; scripts/test
        // makes it before).
        let site = std::path::Path::new("target/site");
        if !site.exists() {
            let _ = std::fs::create_dir_all(site);
        }
        println!("cargo::rerun-if-changed=target/site");
    }
}
