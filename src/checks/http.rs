//! HTTP checks: one request, judged by its status code and how long it took.
//! Every failure names its cause (refused, reset, timed out, bad status), since
//! "error sending request" helps nobody at three in the morning.

use super::Outcome;
use crate::status::Health;
use std::time::{Duration, Instant};

pub struct HttpProbe {
    client: reqwest::Client,
    url: reqwest::Url,
    /// Slower than this and a successful answer counts as degraded.
    degraded_above: Duration,
}

impl HttpProbe {
    pub fn new(client: reqwest::Client, url: reqwest::Url, degraded_above: Duration) -> Self {
        HttpProbe {
            client,
            url,
            degraded_above,
        }
    }

    /// A client suited to checks: bounded redirects, a connect timeout, and
    /// its own user agent so targets can tell checks from people.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .user_agent(concat!("pulse/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with static settings builds")
    }

    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        match self.client.get(self.url.clone()).send().await {
            Ok(response) => self.judge(response.status(), started.elapsed()),
            Err(error) => Outcome::down(describe(&error)),
        }
    }

    fn judge(&self, status: reqwest::StatusCode, took: Duration) -> Outcome {
        let millis = took.as_secs_f64() * 1000.0;
        let code = describe_status(status);
        if !status.is_success() {
            return Outcome::down(format!("answered {code}, expected 2xx"));
        }
        if took > self.degraded_above {
            return Outcome::new(
                Health::Degraded,
                format!(
                    "{code} in {millis:.0} ms, slower than {} ms",
                    self.degraded_above.as_millis()
                ),
            );
        }
        Outcome::new(Health::Up, format!("{code} in {millis:.0} ms"))
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
        HttpProbe::new(HttpProbe::client(), url, Duration::from_secs(5))
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
