//! The site: the browser bundle (the WASM, its JS glue, the CSS) and the
//! files of `public/`, as `cargo leptos build` writes them to `target/site`
//! (with `--precompress`, a `.br` and a `.gz` beside each file; with
//! `hash-files`, the bundle under content-hashed names).
//!
//! A release build carries the whole site inside the binary (rust-embed), so
//! a `pulse` copied anywhere serves its own assets. A debug build reads the
//! same folder from disk on every request, so `cargo leptos watch` keeps
//! reloading. `LEPTOS_SITE_ROOT` set at run time serves another folder from
//! disk instead (as `cargo leptos watch` and `serve` do, or a hand-made
//! bundle for profiling).
//!
//! Each file is sent as it was built: the precompressed copy the browser
//! accepts, with `Content-Encoding` and `Vary: Accept-Encoding` (the
//! compression layer leaves such answers alone), an `ETag` and `304 Not
//! Modified`. The bundle's hashed files, when built in, may be kept by
//! browsers for a year; anything else is revalidated on each use.

use crate::status::Bundle;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use leptos::prelude::*;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

/// The site as it was when the server compiled: `site-root` of
/// `[package.metadata.leptos]`, relative to the crate (rust-embed resolves
/// it against the crate root, wherever `CARGO_TARGET_DIR` is). A missing
/// folder compiles to an empty site; start-up says so.
#[derive(RustEmbed)]
#[folder = "target/site"]
#[allow_missing = true]
struct Built;

/// Where `Built` reads from (debug builds) or read from (release builds).
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/site");

/// The answer for the bundle's content-hashed files: their names change
/// whenever their bytes do.
const FOREVER: &str = "public, max-age=31536000, immutable";
/// The answer for every other file: keep it, but ask (`ETag`) before use.
const REVALIDATE: &str = "no-cache";

/// The precompressed copies `cargo leptos build --precompress` writes, in
/// the order preferred when the browser likes both as much.
const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// One file of the site.
struct File {
    bytes: Cow<'static, [u8]>,
    sha256: [u8; 32],
}

enum SiteFiles {
    /// Built into the binary (release); read from `BUILT_FROM` (debug).
    Built,
    /// A folder named at run time by `LEPTOS_SITE_ROOT`.
    Folder(PathBuf),
}

impl SiteFiles {
    fn get(&self, name: &str) -> Option<File> {
        if !is_plain_name(name) {
            return None;
        }
        match self {
            SiteFiles::Built => Built::get(name).map(|file| File {
                sha256: file.metadata.sha256_hash(),
                bytes: file.data,
            }),
            SiteFiles::Folder(root) => {
                let path = root.join(name);
                let metadata = std::fs::metadata(&path).ok()?;
                if !metadata.is_file() {
                    return None;
                }
                let bytes = std::fs::read(&path).ok()?;
                Some(File {
                    sha256: Sha256::digest(&bytes).into(),
                    bytes: Cow::Owned(bytes),
                })
            }
        }
    }

    fn has(&self, name: &str) -> bool {
        if !is_plain_name(name) {
            return false;
        }
        match self {
            SiteFiles::Built if embedded() => Built::get(name).is_some(),
            SiteFiles::Built => PathBuf::from(BUILT_FROM).join(name).is_file(),
            SiteFiles::Folder(root) => root.join(name).is_file(),
        }
    }

    /// Every file's name (`pkg/pulse.js`) and when it was last changed.
    fn files(&self) -> Vec<(String, Option<u64>)> {
        match self {
            SiteFiles::Built if embedded() => Built::iter()
                .map(|name| {
                    let modified = Built::get(&name).and_then(|f| f.metadata.last_modified());
                    (name.into_owned(), modified)
                })
                .collect(),
            SiteFiles::Built => files_under(&PathBuf::from(BUILT_FROM)),
            SiteFiles::Folder(root) => files_under(root),
        }
    }

    fn reads_disk(&self) -> bool {
        !matches!(self, SiteFiles::Built) || !embedded()
    }

    fn describe(&self) -> String {
        match self {
            SiteFiles::Built if embedded() => format!("this binary (built in from {BUILT_FROM})"),
            SiteFiles::Built => format!("{BUILT_FROM} (a debug build reads it on each request)"),
            SiteFiles::Folder(root) => format!("{} (LEPTOS_SITE_ROOT)", root.display()),
        }
    }
}

/// Whether `Built` holds the bytes (as rust-embed decides: no debug
/// assertions) rather than reading them from disk.
fn embedded() -> bool {
    !cfg!(debug_assertions)
}

fn seconds(time: Option<std::time::SystemTime>) -> Option<u64> {
    time?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

fn files_under(root: &std::path::Path) -> Vec<(String, Option<u64>)> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(metadata) = std::fs::metadata(&path) else {
                continue;
            };
            if metadata.is_dir() {
                folders.push(path);
            } else if let Some(name) = path
                .strip_prefix(root)
                .ok()
                .and_then(|p| p.to_str())
                .map(|p| p.replace('\\', "/"))
            {
                files.push((name, seconds(metadata.modified().ok())));
            }
        }
    }
    files.sort();
    files
}

/// A relative path that stays where it says: no empty, `.` or `..`
/// segments, no escapes, no backslashes.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['%', '\\'])
        && name
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

/// Whether `name` is `wanted` under a content hash, as cargo-leptos's
/// `hash-files` names it: `pkg/pulse.js` becomes `pkg/pulse.<hash>.js`,
/// the hash being 22 characters of unpadded base64url (an MD5).
fn is_hashed_copy(name: &str, wanted: &str) -> bool {
    let Some((stem, extension)) = wanted.rsplit_once('.') else {
        return false;
    };
    let hash = name
        .strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(extension))
        .and_then(|rest| rest.strip_suffix('.'));
    hash.is_some_and(|hash| {
        hash.len() == 22
            && hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The file that serves `wanted` among `files`: itself if it is there,
/// else its hashed copy. `cargo leptos build` empties the site first, so
/// there is one or the other; `cargo leptos watch` writes plain names on
/// rebuilding beside the hashed ones of its first build, and the plain
/// one is then the newer. Of several hashed copies, the newest.
fn resolve(wanted: &str, files: &[(String, Option<u64>)]) -> Option<String> {
    if files.iter().any(|(name, _)| name == wanted) {
        return Some(wanted.to_string());
    }
    files
        .iter()
        .filter(|(name, _)| is_hashed_copy(name, wanted))
        .max_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)))
        .map(|(name, _)| name.clone())
}

/// How much the browser wants `coding` by its `Accept-Encoding`: the
/// q-value it gives it, else that of `*`, else 0 (not acceptable).
fn wanted(accept_encoding: &str, coding: &str) -> f32 {
    let mut named = None;
    let mut any = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| {
                let (key, value) = p.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| value.trim().parse::<f32>().unwrap_or(0.0))
            })
            .unwrap_or(1.0);
        let aliases: &[&str] = if coding == "gzip" {
            &["gzip", "x-gzip"]
        } else {
            &[coding]
        };
        if aliases.iter().any(|a| name.eq_ignore_ascii_case(a)) {
            named = Some(q);
        } else if name == "*" {
            any = Some(q);
        }
    }
    named.or(any).unwrap_or(0.0).clamp(0.0, 1.0)
}

/// Of the precompressed copies there are (`available`, by coding), the one
/// to send: the one the browser wants most, if it wants it at all. Also
/// what `public_cache` sends of the public page.
pub(crate) fn choose_encoding(
    accept_encoding: &str,
    available: &[&'static str],
) -> Option<&'static str> {
    let mut best: Option<(&'static str, f32)> = None;
    for (coding, _) in ENCODINGS {
        if !available.contains(&coding) {
            continue;
        }
        let q = wanted(accept_encoding, coding);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((coding, q));
        }
    }
    best.map(|(coding, _)| coding)
}

/// Whether `If-None-Match` names `etag` (weak comparison, as the header
/// asks for).
fn none_match_hits(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let ours = opaque(etag);
    if_none_match
        .split(',')
        .any(|tag| tag.trim() == "*" || opaque(tag) == ours)
}

/// The bundle's parts, by their plain names (`pkg/pulse.css`).
struct Parts {
    css: String,
    js: String,
    wasm: String,
}

impl Parts {
    fn all(&self) -> [&str; 3] {
        [&self.css, &self.js, &self.wasm]
    }
}

/// The site the server serves, and what its pages link.
pub(crate) struct Site {
    source: SiteFiles,
    parts: Parts,
    /// What the page links: the plain names when the site is read from
    /// disk (resolved on each request, so a rebuild shows at once), the
    /// names found at start-up when it is built in.
    bundle: Bundle,
    /// Built-in files named by their content: kept by browsers for a year.
    forever: Vec<String>,
}

impl Site {
    /// The built-in site, or the folder `LEPTOS_SITE_ROOT` names. Says at
    /// start-up what it serves, and loudly when the bundle is missing.
    pub(crate) fn open(options: &LeptosOptions) -> Site {
        let source = match std::env::var_os("LEPTOS_SITE_ROOT") {
            Some(root) if !root.is_empty() => SiteFiles::Folder(root.into()),
            _ => SiteFiles::Built,
        };
        let site = Site::new(source, &options.site_pkg_dir, &options.output_name);
        site.report();
        site
    }

    fn new(source: SiteFiles, pkg_dir: &str, output_name: &str) -> Site {
        let pkg = pkg_dir.trim_matches('/');
        let part = |extension: &str| format!("{pkg}/{output_name}.{extension}");
        let parts = Parts {
            css: part("css"),
            js: part("js"),
            wasm: part("wasm"),
        };
        let mut forever = Vec::new();
        let linked = if source.reads_disk() {
            parts.all().map(str::to_string)
        } else {
            let files = source.files();
            parts.all().map(|wanted| {
                let found = resolve(wanted, &files).unwrap_or_else(|| wanted.to_string());
                if found != wanted {
                    forever.push(found.clone());
                }
                found
            })
        };
        let [css, js, wasm] = linked.map(|name| format!("/{name}"));
        Site {
            source,
            parts,
            bundle: Bundle { css, js, wasm },
            forever,
        }
    }

    /// What the page links.
    pub(crate) fn bundle(&self) -> Bundle {
        self.bundle.clone()
    }

    fn report(&self) {
        let files = self.source.files();
        let from = self.source.describe();
        let missing: Vec<&str> = self
            .parts
            .all()
            .into_iter()
            .filter(|wanted| resolve(wanted, &files).is_none())
            .collect();
        let build = match &self.source {
            SiteFiles::Built if embedded() => {
                "build the server with `cargo leptos build --release --precompress` \
                 (it builds the site first, then embeds it)"
            }
            SiteFiles::Built => "run `cargo leptos watch` or `cargo leptos build`",
            SiteFiles::Folder(_) => {
                "build it there with `cargo leptos build`, or unset LEPTOS_SITE_ROOT \
                 to serve the site built into the binary"
            }
        };
        if files.is_empty() {
            tracing::error!(
                "NO SITE: no assets in {from}; pages will have no styles and will not \
                 hydrate (no live updates): {build}"
            );
        } else if !missing.is_empty() {
            tracing::error!(
                "INCOMPLETE SITE: {from} lacks {}; pages will not look or work right: {build}",
                missing.join(", ")
            );
        } else {
            tracing::info!(
                files = files.len(),
                css = %self.bundle.css,
                js = %self.bundle.js,
                wasm = %self.bundle.wasm,
                "site: {from}"
            );
        }
    }

    /// The file `path` names (with a `/` in front), as this request wants
    /// it, or `None` if the site has no such file.
    fn answer(
        &self,
        path: &str,
        accept_encoding: &str,
        if_none_match: Option<&str>,
    ) -> Option<Response> {
        let asked = path.strip_prefix('/')?;
        let name = if self.source.has(asked) {
            asked.to_string()
        } else if self.source.reads_disk() && self.parts.all().contains(&asked) {
            // A plain name the page links: its hashed copy, if that is
            // what the last build wrote.
            resolve(asked, &self.source.files())?
        } else {
            return None;
        };
        let available: Vec<&'static str> = ENCODINGS
            .iter()
            .filter(|(_, suffix)| self.source.has(&format!("{name}{suffix}")))
            .map(|(coding, _)| *coding)
            .collect();
        let encoding = choose_encoding(accept_encoding, &available);
        let sent = match encoding {
            Some(coding) => {
                let suffix = ENCODINGS.iter().find(|(c, _)| *c == coding)?.1;
                self.source.get(&format!("{name}{suffix}"))?
            }
            None => self.source.get(&name)?,
        };
        // A file with no precompressed copy may be compressed on the way
        // out (the compression layer), under the same tag: a weak one.
        let weak = if available.is_empty() { "W/" } else { "" };
        let hex = crate::text::hex(&sent.sha256[..16]);
        let etag = format!("{weak}\"{hex}\"");
        let cache = if self.forever.iter().any(|n| *n == asked) {
            FOREVER
        } else {
            REVALIDATE
        };

        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        if !available.is_empty() {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        if if_none_match.is_some_and(|tags| none_match_hits(tags, &etag)) {
            return Some((StatusCode::NOT_MODIFIED, headers).into_response());
        }
        let content_type = mime_guess::from_path(&name).first_or_octet_stream();
        if let Ok(value) = HeaderValue::from_str(content_type.as_ref()) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(coding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        let body = match sent.bytes {
            Cow::Borrowed(bytes) => Bytes::from_static(bytes),
            Cow::Owned(bytes) => Bytes::from(bytes),
        };
        Some((headers, Body::from(body)).into_response())
    }
}

/// The router's fallback: a file of the site, else the app's "Nothing
/// here" page with status 404. (leptos_axum's `file_and_error_handler`,
/// with the files from `Site` instead of a folder beside the binary.)
pub(crate) fn file_and_error_handler<S, IV>(
    shell: impl Fn() -> IV + Clone + Send + Sync + 'static,
) -> impl Fn(State<S>, Request) -> Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static
where
    S: Clone + Send + Sync + 'static,
    Arc<Site>: FromRef<S>,
    IV: IntoView + 'static,
{
    move |State(state): State<S>, request: Request| {
        let shell = shell.clone();
        Box::pin(async move {
            if matches!(*request.method(), Method::GET | Method::HEAD) {
                let site = Arc::<Site>::from_ref(&state);
                if let Some(answer) =
                    serve_file(site, request.uri().path(), request.headers()).await
                {
                    return answer;
                }
            }
            not_found(state, shell, request).await
        })
    }
}

async fn serve_file(site: Arc<Site>, path: &str, headers: &HeaderMap) -> Option<Response> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let path = path.to_string();
    let accept_encoding = text(header::ACCEPT_ENCODING).unwrap_or_default();
    let if_none_match = text(header::IF_NONE_MATCH);
    if site.source.reads_disk() {
        tokio::task::spawn_blocking(move || {
            site.answer(&path, &accept_encoding, if_none_match.as_deref())
        })
        .await
        .ok()
        .flatten()
    } else {
        site.answer(&path, &accept_encoding, if_none_match.as_deref())
    }
}

async fn not_found<S, IV>(
    state: S,
    shell: impl Fn() -> IV + Send + 'static,
    request: Request,
) -> Response
where
    S: Clone + Send + Sync + 'static,
    IV: IntoView + 'static,
{
    use futures::StreamExt;
    type Html = Pin<Box<dyn futures::Stream<Item = String> + Send>>;
    let mut response = leptos_axum::handle_response_inner(
        move || provide_context(state.clone()),
        shell,
        request,
        |app, chunks, _| {
            Box::pin(async move {
                let app = app.to_html_stream_in_order().collect::<String>().await;
                let chunks = chunks();
                Box::pin(futures::stream::once(async move { app }).chain(chunks)) as Html
            })
        },
    )
    .await;
    // A redirect set while rendering stays one.
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "AbCdEfGhIjKlMnOpQr-_12";

    fn files(names: &[(&str, u64)]) -> Vec<(String, Option<u64>)> {
        names
            .iter()
            .map(|(n, t)| (n.to_string(), Some(*t)))
            .collect()
    }

    #[test]
    fn the_embedded_folder_is_the_site_root_cargo_leptos_writes() {
        // `#[folder]` cannot name a constant; this keeps the two together.
        assert!(include_str!("../Cargo.toml").contains("\nsite-root = \"target/site\"\n"));
        assert!(BUILT_FROM.ends_with("/target/site"));
    }

    #[test]
    fn hashed_copies_are_recognised_by_name() {
        assert!(is_hashed_copy(
            &format!("pkg/pulse.{HASH}.js"),
            "pkg/pulse.js"
        ));
        assert!(!is_hashed_copy(
            &format!("pkg/pulse.{HASH}.css"),
            "pkg/pulse.js"
        ));
        assert!(!is_hashed_copy(
            &format!("pkg/pulse.{HASH}.js.br"),
            "pkg/pulse.js"
        ));
        assert!(!is_hashed_copy("pkg/pulse.short.js", "pkg/pulse.js"));
        assert!(!is_hashed_copy(
            &format!("pkg/pulse_bg.{HASH}.js"),
            "pkg/pulse.js"
        ));
        assert!(!is_hashed_copy(
            "pkg/pulse.AbCdEfGhIjKlMnOpQr+/12.js",
            "pkg/pulse.js"
        ));
    }

    #[test]
    fn a_plain_name_wins_over_its_hashed_copy_and_the_newest_copy_over_older_ones() {
        let hashed = format!("pkg/pulse.{HASH}.js");
        let older = "pkg/pulse.0000000000000000000000.js".to_string();
        let site = files(&[(&hashed, 20), (&older, 10), ("pkg/pulse.wasm", 5)]);
        assert_eq!(resolve("pkg/pulse.js", &site), Some(hashed.clone()));
        assert_eq!(
            resolve("pkg/pulse.wasm", &site),
            Some("pkg/pulse.wasm".into())
        );
        assert_eq!(resolve("pkg/pulse.css", &site), None);
        let rebuilt = files(&[(&hashed, 20), ("pkg/pulse.js", 30)]);
        assert_eq!(
            resolve("pkg/pulse.js", &rebuilt),
            Some("pkg/pulse.js".into())
        );
    }

    #[test]
    fn accept_encoding_picks_what_the_browser_wants_most() {
        let both = ["br", "gzip"];
        assert_eq!(
            choose_encoding("gzip, deflate, br, zstd", &both),
            Some("br")
        );
        assert_eq!(choose_encoding("gzip", &both), Some("gzip"));
        assert_eq!(choose_encoding("x-gzip", &both), Some("gzip"));
        assert_eq!(choose_encoding("br;q=0.5, gzip;q=0.8", &both), Some("gzip"));
        assert_eq!(choose_encoding("br;q=0, gzip;q=0", &both), None);
        assert_eq!(choose_encoding("*", &both), Some("br"));
        assert_eq!(choose_encoding("*;q=0.1, br;q=0", &both), Some("gzip"));
        assert_eq!(choose_encoding("identity", &both), None);
        assert_eq!(choose_encoding("", &both), None);
        assert_eq!(choose_encoding("BR", &["gzip"]), None);
        assert_eq!(choose_encoding("br;q=bogus, gzip", &both), Some("gzip"));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(none_match_hits("\"abc\"", "\"abc\""));
        assert!(none_match_hits("W/\"abc\"", "\"abc\""));
        assert!(none_match_hits("\"x\", W/\"abc\"", "W/\"abc\""));
        assert!(none_match_hits("*", "\"abc\""));
        assert!(!none_match_hits("\"abd\"", "\"abc\""));
    }

    #[test]
    fn names_that_leave_the_site_are_not_looked_up() {
        assert!(is_plain_name("pkg/pulse.js"));
        for bad in [
            "",
            "pkg/../x",
            "./x",
            "pkg//x",
            "pkg/%2e%2e/x",
            "pkg\\x",
            "/etc/passwd",
        ] {
            assert!(!is_plain_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_folder_site_serves_plain_names_from_hashed_copies_with_their_encodings() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        std::fs::create_dir(&pkg).unwrap();
        let css = format!("pulse.{HASH}.css");
        std::fs::write(pkg.join(&css), "body{}").unwrap();
        std::fs::write(pkg.join(format!("{css}.br")), "BR").unwrap();
        std::fs::write(pkg.join(format!("{css}.gz")), "GZ").unwrap();
        std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
        let site = Site::new(SiteFiles::Folder(dir.path().into()), "pkg", "pulse");
        assert_eq!(site.bundle().css, "/pkg/pulse.css");

        let answer = site.answer("/pkg/pulse.css", "gzip, br", None).unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let head = answer.headers();
        assert_eq!(head[header::CONTENT_ENCODING], "br");
        assert_eq!(head[header::CONTENT_TYPE], "text/css");
        assert_eq!(head[header::VARY], "accept-encoding");
        assert_eq!(head[header::CACHE_CONTROL], REVALIDATE);
        let etag = head[header::ETAG].to_str().unwrap().to_string();
        assert!(!etag.starts_with("W/"), "{etag}");

        let plain = site.answer("/pkg/pulse.css", "", None).unwrap();
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_ne!(plain.headers()[header::ETAG], etag.as_str());

        let again = site.answer("/pkg/pulse.css", "br", Some(&etag)).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

        let icon = site.answer("/favicon.svg", "br", None).unwrap();
        assert_eq!(icon.headers()[header::CONTENT_TYPE], "image/svg+xml");
        assert!(
            icon.headers()[header::ETAG]
                .to_str()
                .unwrap()
                .starts_with("W/")
        );
        assert!(icon.headers().get(header::VARY).is_none());

        assert!(site.answer("/pkg/pulse.js", "br", None).is_none());
        assert!(site.answer("/pkg/../favicon.svg", "", None).is_none());
        assert!(site.answer("/", "", None).is_none());
        assert!(site.answer("/pkg", "", None).is_none());
    }
}
