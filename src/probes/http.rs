//! HTTP checks: one request, judged by its status code, optionally its body
//! (a substring, a regular expression, a value at a JSON pointer) and how
//! long it took. Every failure names its cause (refused, reset, timed out,
//! bad status, which expectation failed), since "error sending request"
//! helps nobody at three in the morning.
//!
//! Redirects are followed here, not by reqwest: its policy cannot edit the
//! headers of the next hop, and it strips only its own short list of
//! sensitive ones. A check's configured headers (and the user and password
//! of its URL) go only to the origin of its configured URL, whatever their
//! names; a redirect from https to http is refused, since it would send the
//! request, and what the target answers, in clear text.

use super::{Finding, Kind};
use crate::fields::{Headers, HttpUrl, JsonPointer, Pattern, Period, StatusSet};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::{CheckKind, Health};
use serde::Deserialize;
use reqwest::{Method, StatusCode, Url};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use toml::de::ValueDeserializer;

/// Bodies are read up to this much: enough for any health answer, and a
/// target that streams forever cannot fill the server's memory.
const BODY_LIMIT: usize = 1024 * 1024;
/// A check that sets no threshold is never degraded for being slow.
const NEVER: Duration = Duration::MAX;
/// Redirects followed at most, as reqwest's default policy does: the next
/// one is "too many redirects".
const MAX_REDIRECTS: usize = 10;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSpec {
    pub(crate) url: HttpUrl,
    #[serde(default)]
    pub(crate) method: crate::fields::Method,
    #[serde(default)]
    pub(crate) headers: Headers,
    #[serde(default)]
    pub(crate) expect_status: StatusSet,
    pub(crate) body_contains: Option<String>,
    pub(crate) body_regex: Option<Pattern>,
    pub(crate) json: Option<JsonExpectation>,
    /// A successful answer slower than this is `degraded`.
    pub(crate) degraded_above: Option<Period>,
    #[serde(default = "yes")]
    pub(crate) follow_redirects: bool,
}

/// The value at a JSON pointer of the response body must equal `equals`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonExpectation {
    pub(crate) pointer: JsonPointer,
    pub(crate) equals: serde_json::Value,
}

fn yes() -> bool {
    true
}

pub(crate) struct HttpProbe {
    client: reqwest::Client,
    method: Method,
    url: Url,
    headers: Headers,
    follow_redirects: bool,
    expect_status: StatusSet,
    body_contains: Option<String>,
    body_regex: Option<Pattern>,
    json: Option<JsonExpectation>,
    /// Slower than this and a successful answer counts as degraded.
    degraded_above: Duration,
}

/// What was measured of one answer.
struct Answer {
    status: StatusCode,
    first_byte: Duration,
    total: Duration,
    body: Vec<u8>,
}

impl HttpProbe {
    /// A plain `GET` expecting 2xx.
    pub(crate) fn get(url: Url, degraded_above: Duration) -> Self {
        HttpProbe {
            client: shared_client(),
            method: Method::GET,
            url,
            headers: Headers::default(),
            follow_redirects: true,
            expect_status: StatusSet::default(),
            body_contains: None,
            body_regex: None,
            json: None,
            degraded_above,
        }
    }

    pub(crate) fn from_spec(spec: &HttpSpec) -> Self {
        HttpProbe {
            client: shared_client(),
            method: spec.method.0.clone(),
            url: spec.url.0.clone(),
            headers: spec.headers.clone(),
            follow_redirects: spec.follow_redirects,
            expect_status: spec.expect_status.clone(),
            body_contains: spec.body_contains.clone(),
            body_regex: spec.body_regex.clone(),
            json: spec.json.clone(),
            degraded_above: spec.degraded_above.map_or(NEVER, |p| p.0),
        }
    }


    /// The answer at the end of the redirects, with its timing from the
    /// first request on.
    async fn fetch(&self) -> Result<Answer, Failure> {
        let started = Instant::now();
        let mut hop = Hop {
            method: self.method.clone(),
            url: self.url.clone(),
        };
        let mut followed = 0;
        let mut response = loop {
            let response = self.send(&hop).await?;
            match self.next_hop(&hop, &response)? {
                None => break response,
                Some(_) if followed == MAX_REDIRECTS => {
                    return Err(Failure::Redirect("too many redirects".into()));
                }
                Some(next) => {
                    followed += 1;
                    hop = next;
                }
            }
        };
        let first_byte = started.elapsed();
        let status = response.status();
        let mut body = Vec::new();
        while body.len() < BODY_LIMIT {
            match response.chunk().await? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        body.truncate(BODY_LIMIT);
        Ok(Answer {
            status,
            first_byte,
            total: started.elapsed(),
            body,
        })
    }

    /// One request. The check's headers and URL credentials go with it
    /// only when it goes to the configured URL's origin.
    async fn send(&self, hop: &Hop) -> Result<reqwest::Response, reqwest::Error> {
        let own_origin = hop.url.origin() == self.url.origin();
        let mut url = hop.url.clone();
        let (user, password) = match own_origin {
            true => (self.url.username(), self.url.password()),
            false => ("", None),
        };
        // Both fail only for URLs without a host, which http(s) never are.
        // The values are already percent-encoded, and are kept so.
        let _ = url.set_username(user);
        let _ = url.set_password(password);
        let mut request = self.client.request(hop.method.clone(), url);
        if own_origin {
            for (name, value) in &self.headers.0 {
                request = request.header(name, value);
            }
        }
        request.send().await
    }

    /// Where `response` sends the check next, if it is a redirect to follow.
    /// A redirect without a usable `Location` is the answer itself, as with
    /// reqwest.
    fn next_hop(&self, hop: &Hop, response: &reqwest::Response) -> Result<Option<Hop>, Failure> {
        let status = response.status();
        if !self.follow_redirects || !status.is_redirection() {
            return Ok(None);
        }
        let Some(method) = method_after(status, &hop.method) else {
            return Ok(None);
        };
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| hop.url.join(text).ok());
        let Some(url) = location else {
            return Ok(None);
        };
        match (hop.url.scheme(), url.scheme()) {
            ("https", "http") => Err(Failure::Redirect(
                "redirect from https to http refused".into(),
            )),
            (_, "http" | "https") => Ok(Some(Hop { method, url })),
            (_, other) => Err(Failure::Redirect(format!(
                "redirect to a {other}: URL refused; only http and https are followed"
            ))),
        }
    }

    fn judge(&self, answer: &Answer) -> Finding {
        let code = describe_status(answer.status);
        if !self.expect_status.contains(answer.status.as_u16()) {
            return Finding::down(format!(
                "answered {code}, expected {}",
                self.expect_status.describe()
            ));
        }
        if let Err(why) = self.check_body(&answer.body) {
            return Finding::down(format!("answered {code}, but {why}"));
        }
        let timing = format!(
            "{code} in {} (first byte {})",
            millis(answer.total),
            millis(answer.first_byte)
        );
        if answer.total > self.degraded_above {
            return Finding::new(
                Health::Degraded,
                format!("{timing}, slower than {}", millis(self.degraded_above)),
            );
        }
        Finding::new(Health::Up, timing)
    }

    /// Every body expectation, in the order a reader of the config would
    /// check them.
    fn check_body(&self, body: &[u8]) -> Result<(), String> {
        let needs_text = self.body_contains.is_some() || self.body_regex.is_some();
        let text = if needs_text {
            std::str::from_utf8(body).map_err(|_| "the body is not UTF-8 text".to_string())?
        } else {
            ""
        };
        if let Some(needle) = &self.body_contains
            && !text.contains(needle.as_str())
        {
            return Err(format!("the body does not contain {needle:?}"));
        }
        if let Some(pattern) = &self.body_regex
            && !pattern.0.is_match(text)
        {
            return Err(format!("the body does not match /{}/", pattern.0.as_str()));
        }
        if let Some(json) = &self.json {
            check_json(body, json)?;
        }
        Ok(())
    }
}

impl Kind for HttpProbe {
    const NAME: &'static str = "http";
    const CHECK_KIND: CheckKind = CheckKind::Http;
    type Spec = HttpSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<HttpSpec, BadKeys> {
        keys(said)
    }

    fn secrets(spec: &HttpSpec) -> Vec<String> {
        let mut secrets = crate::redact::url_secrets(&spec.url.0);
        secrets.extend(crate::redact::header_secrets(&spec.headers.0));
        secrets
    }

    fn probe(spec: &HttpSpec) -> Result<Self, String> {
        Ok(HttpProbe::from_spec(spec))
    }

    async fn run(&self) -> Finding {
        match self.fetch().await {
            Ok(answer) => self.judge(&answer),
            Err(Failure::Transport(error)) => {
                Finding::failed(&error, || crate::http_client::describe_error(&error))
            }
            Err(Failure::Redirect(why)) => Finding::down(why),
        }
    }
}

fn check_json(body: &[u8], expected: &JsonExpectation) -> Result<(), String> {
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    let pointer = &expected.pointer.0;
    let found = document
        .pointer(pointer)
        .ok_or_else(|| format!("the JSON has nothing at {pointer:?}"))?;
    // Whole, and last: the redactor blanks any secret in it before it cuts
    // the detail to length (`Redactor::apply`), and a long value then
    // loses its end rather than the expectation.
    if *found != expected.equals {
        return Err(format!(
            "the JSON at {pointer:?} should be {} but is {found}",
            expected.equals
        ));
    }
    Ok(())
}

/// One request of a check: the first, or one after a redirect.
struct Hop {
    method: Method,
    url: Url,
}

/// Why a check got no answer to judge.
enum Failure {
    Transport(reqwest::Error),
    /// A redirect that was not followed, and why.
    Redirect(String),
}

impl From<reqwest::Error> for Failure {
    fn from(error: reqwest::Error) -> Self {
        Failure::Transport(error)
    }
}

/// The method of the request after a redirect with `status`, as browsers
/// and reqwest do it: 303 asks for a GET (a HEAD stays one), 301 and 302
/// turn a POST into a GET for historical reasons, 307 and 308 keep the
/// method. `None` for a 3xx that is no redirect (304 Not Modified, …).
fn method_after(status: StatusCode, method: &Method) -> Option<Method> {
    match status {
        StatusCode::SEE_OTHER if *method != Method::HEAD => Some(Method::GET),
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND if *method == Method::POST => {
            Some(Method::GET)
        }
        StatusCode::MOVED_PERMANENTLY
        | StatusCode::FOUND
        | StatusCode::SEE_OTHER
        | StatusCode::TEMPORARY_REDIRECT
        | StatusCode::PERMANENT_REDIRECT => Some(method.clone()),
        _ => None,
    }
}

/// The client of every HTTP check, shared so that connections to the same
/// target are reused.
fn shared_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            crate::http_client::settings()
                .build()
                .expect("an HTTP client with static settings builds")
        })
        .clone()
}

fn millis(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

/// `503 Service Unavailable`, or the bare code when it has no name.
fn describe_status(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot server on loopback that answers every connection with `reply`.
    async fn serve(reply: &'static [u8]) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(reply).await;
            }
        });
        format!("http://{addr}/").parse().unwrap()
    }

    fn probe(url: Url) -> HttpProbe {
        HttpProbe::get(url, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_2xx_answer_is_up() {
        let url = serve(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
        let outcome = probe(url).run().await;
        assert_eq!(outcome.health, Health::Up, "{}", outcome.detail);
        assert!(
            outcome.detail.starts_with("204 No Content"),
            "{}",
            outcome.detail
        );
    }

    #[tokio::test]
    async fn an_error_status_is_down_with_the_code() {
        let url = serve(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        let outcome = probe(url).run().await;
        assert_eq!(outcome.health, Health::Down);
        assert!(outcome.detail.contains("503"), "{}", outcome.detail);
    }

    #[tokio::test]
    async fn garbage_is_down_with_a_reason() {
        let url = serve(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        let outcome = probe(url).run().await;
        assert_eq!(outcome.health, Health::Down);
        assert!(
            outcome.detail.starts_with("request failed"),
            "{}",
            outcome.detail
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_down_as_could_not_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let outcome = probe(format!("http://{addr}/").parse().unwrap())
            .run()
            .await;
        assert_eq!(outcome.health, Health::Down);
        assert!(
            outcome.detail.starts_with("could not connect"),
            "{}",
            outcome.detail
        );
    }

    /// A server on loopback where `/N` redirects to `/N-1` and `/0` answers.
    async fn serve_countdown() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]);
                    let path = head.split(' ').nth(1).unwrap_or("/0");
                    let left: u32 = path.trim_start_matches('/').parse().unwrap_or(0);
                    let reply = match left {
                        0 => "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_string(),
                        n => format!(
                            "HTTP/1.1 302 Found\r\nlocation: /{}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                            n - 1
                        ),
                    };
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn ten_redirects_are_followed_and_the_eleventh_is_too_many() {
        let addr = serve_countdown().await;
        let ten = probe(format!("http://{addr}/10").parse().unwrap())
            .run()
            .await;
        assert_eq!(ten.health, Health::Up, "{}", ten.detail);
        let eleven = probe(format!("http://{addr}/11").parse().unwrap())
            .run()
            .await;
        assert_eq!(eleven.health, Health::Down);
        assert_eq!(eleven.detail, "too many redirects");
    }

    #[tokio::test]
    async fn a_redirect_from_https_to_http_is_refused_before_any_request() {
        // The plain-text target: counts the connections it gets.
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain_addr = plain.local_addr().unwrap();
        let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reached.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = plain.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        // The TLS target, trusted by this probe's client, sends it there.
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certified.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let secure = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let secure_addr = secure.local_addr().unwrap();
        let redirect = format!(
            "HTTP/1.1 302 Found\r\nlocation: http://{plain_addr}/\r\ncontent-length: 0\r\n\r\n"
        );
        tokio::spawn(async move {
            while let Ok((socket, _)) = secure.accept().await {
                let (acceptor, redirect) = (acceptor.clone(), redirect.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let mut buf = [0u8; 1024];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls.write_all(redirect.as_bytes()).await;
                    let _ = tls.flush().await;
                });
            }
        });
        let mut probe = probe(format!("https://{secure_addr}/").parse().unwrap());
        let ca = reqwest::Certificate::from_der(certified.cert.der()).unwrap();
        probe.client = crate::http_client::settings()
            .add_root_certificate(ca)
            .build()
            .unwrap();

        let outcome = probe.run().await;
        assert_eq!(outcome.health, Health::Down, "{}", outcome.detail);
        assert_eq!(outcome.detail, "redirect from https to http refused");
        assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn a_redirect_changes_the_method_as_browsers_do() {
        use StatusCode as S;
        let after = |status, method: Method| method_after(status, &method);
        assert_eq!(after(S::SEE_OTHER, Method::POST), Some(Method::GET));
        assert_eq!(after(S::SEE_OTHER, Method::HEAD), Some(Method::HEAD));
        assert_eq!(after(S::FOUND, Method::POST), Some(Method::GET));
        assert_eq!(after(S::MOVED_PERMANENTLY, Method::PUT), Some(Method::PUT));
        assert_eq!(
            after(S::TEMPORARY_REDIRECT, Method::POST),
            Some(Method::POST)
        );
        assert_eq!(
            after(S::PERMANENT_REDIRECT, Method::HEAD),
            Some(Method::HEAD)
        );
        assert_eq!(after(S::NOT_MODIFIED, Method::GET), None);
    }
}
