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
        println!("cargo::rerun-if-changed=target/site");
    }
}
