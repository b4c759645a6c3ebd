//! HTTP checks: one request, judged by its status code, optionally its body
//! (a substring, a regular expression, a value at a JSON pointer) and how
//! long it took. Every failure names its cause (refused, reset, timed out,
//! bad status, which expectation failed), since "error sending request"
//! helps nobody at three in the morning.

use super::Outcome;
use crate::config::{Headers, HttpSpec, JsonExpectation, Pattern, StatusSet};
use crate::status::Health;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Bodies are read up to this much: enough for any health answer, and a
/// target that streams forever cannot fill the server's memory.
const BODY_LIMIT: usize = 1024 * 1024;
/// A check that sets no threshold is never degraded for being slow.
const NEVER: Duration = Duration::MAX;

pub struct HttpProbe {
    client: reqwest::Client,
    method: reqwest::Method,
    url: reqwest::Url,
    headers: Headers,
    expect_status: StatusSet,
    body_contains: Option<String>,
    body_regex: Option<Pattern>,
    json: Option<JsonExpectation>,
    /// Slower than this and a successful answer counts as degraded.
    degraded_above: Duration,
}

/// What was measured of one answer.
struct Answer {
    status: reqwest::StatusCode,
    first_byte: Duration,
    total: Duration,
    body: Vec<u8>,
}

impl HttpProbe {
    /// A plain `GET` expecting 2xx.
    pub fn get(url: reqwest::Url, degraded_above: Duration) -> Self {
        HttpProbe {
            client: client(true),
            method: reqwest::Method::GET,
            url,
            headers: Headers::default(),
            expect_status: StatusSet::default(),
            body_contains: None,
            body_regex: None,
            json: None,
            degraded_above,
        }
    }

    pub fn from_spec(spec: &HttpSpec) -> Self {
        HttpProbe {
            client: client(spec.follow_redirects),
            method: spec.method.0.clone(),
            url: spec.url.0.clone(),
            headers: spec.headers.clone(),
            expect_status: spec.expect_status.clone(),
            body_contains: spec.body_contains.clone(),
            body_regex: spec.body_regex.clone(),
            json: spec.json.clone(),
            degraded_above: spec.degraded_above.map_or(NEVER, |p| p.0),
        }
    }

    pub async fn run(&self) -> Outcome {
        match self.fetch().await {
            Ok(answer) => self.judge(&answer),
            Err(error) => Outcome::down(describe(&error)),
        }
    }

    async fn fetch(&self) -> Result<Answer, reqwest::Error> {
        let started = Instant::now();
        let mut request = self.client.request(self.method.clone(), self.url.clone());
        for (name, value) in &self.headers.0 {
            request = request.header(name, value);
        }
        let mut response = request.send().await?;
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

    fn judge(&self, answer: &Answer) -> Outcome {
        let code = describe_status(answer.status);
        if !self.expect_status.contains(answer.status.as_u16()) {
            return Outcome::down(format!(
                "answered {code}, expected {}",
                self.expect_status.describe()
            ));
        }
        if let Err(why) = self.check_body(&answer.body) {
            return Outcome::down(format!("answered {code}, but {why}"));
        }
        let timing = format!(
            "{code} in {} (first byte {})",
            millis(answer.total),
            millis(answer.first_byte)
        );
        if answer.total > self.degraded_above {
            return Outcome::new(
                Health::Degraded,
                format!("{timing}, slower than {}", millis(self.degraded_above)),
            );
        }
        Outcome::new(Health::Up, timing)
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

fn check_json(body: &[u8], expected: &JsonExpectation) -> Result<(), String> {
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    let pointer = &expected.pointer.0;
    let found = document
        .pointer(pointer)
        .ok_or_else(|| format!("the JSON has nothing at {pointer:?}"))?;
    if *found != expected.equals {
        return Err(format!(
            "the JSON at {pointer:?} is {}, expected {}",
            shorten(&found.to_string()),
            expected.equals
        ));
    }
    Ok(())
}

/// Clients suited to checks, one per redirect policy, shared by every HTTP
/// check so that connections to the same target are reused: bounded
/// redirects, a connect timeout, and Pulse's own user agent so targets can
/// tell checks from people.
fn client(follow_redirects: bool) -> reqwest::Client {
    static FOLLOWING: OnceLock<reqwest::Client> = OnceLock::new();
    static NOT_FOLLOWING: OnceLock<reqwest::Client> = OnceLock::new();
    let (cell, policy) = if follow_redirects {
        (&FOLLOWING, reqwest::redirect::Policy::limited(10))
    } else {
        (&NOT_FOLLOWING, reqwest::redirect::Policy::none())
    };
    cell.get_or_init(|| {
        reqwest::Client::builder()
            .user_agent(concat!("pulse/", env!("CARGO_PKG_VERSION")))
            .redirect(policy)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with static settings builds")
    })
    .clone()
}

fn millis(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

/// A value from a target's body, cut so that a reason stays a sentence.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn describe_status(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The most specific cause reqwest's error chain offers, with a plain-words
/// category in front.
fn describe(error: &reqwest::Error) -> String {
    let category = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "too many redirects"
    } else if error.is_body() || error.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut root: &dyn std::error::Error = error;
    while let Some(source) = root.source() {
        root = source;
    }
    if std::ptr::addr_eq(root, error as &dyn std::error::Error) {
        category.to_string()
    } else {
        format!("{category}: {root}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot server on loopback that answers every connection with `reply`.
    async fn serve(reply: &'static [u8]) -> reqwest::Url {
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

    fn probe(url: reqwest::Url) -> HttpProbe {
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
}
