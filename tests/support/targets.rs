//! Things for checks to look at, all on loopback and started by the test:
//! a well-behaved HTTP server with routes for each expectation, and the
//! misbehaving ones (a server that never answers, one that sends garbage,
//! one that resets), TLS servers with certificates of a chosen age, and a
//! server that keeps the headers of every request it gets.

#![allow(dead_code)]

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP server with one route per behaviour a check may meet.
pub async fn http_target() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "all good" }))
        .route(
            "/unavailable",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route(
            "/json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"status":"ok","db":{"up":false,"replicas":[1,2]}}"#,
                )
            }),
        )
        .route(
            "/loop",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop")]) }),
        )
        .route(
            "/moved",
            get(|| async { (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/ok")]) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "late"
            }),
        )
        .route(
            "/private",
            get(|headers: axum::http::HeaderMap| async move {
                match headers.get(header::AUTHORIZATION) {
                    Some(_) => (StatusCode::OK, "welcome").into_response(),
                    None => StatusCode::UNAUTHORIZED.into_response(),
                }
            }),
        );
    serve(app).await
}

/// The requests a recording target received: path and query, and headers.
pub type Received = Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap)>>>;

/// An HTTP server that keeps every request's headers, answers `/seen`
/// with 200, and `/redirect?to=URL` with a 302 to that URL. Two of them
/// are two origins (same host, other port).
pub async fn recording_target() -> (SocketAddr, Received) {
    let received = Received::default();
    let log = received.clone();
    let app = Router::new()
        .route("/seen", get(|| async { "seen" }))
        .route(
            "/redirect",
            get(
                |axum::extract::Query(query): axum::extract::Query<
                    std::collections::HashMap<String, String>,
                >| async move {
                    let to = query.get("to").cloned().unwrap_or_default();
                    (StatusCode::FOUND, [(header::LOCATION, to)])
                },
            ),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                async move {
                    let path = request
                        .uri()
                        .path_and_query()
                        .map_or_else(String::new, |p| p.to_string());
                    log.lock().unwrap().push((path, request.headers().clone()));
                    next.run(request).await
                }
            },
        ));
    (serve(app).await, received)
}

/// Answers every request with 200 and closes the connection, so that each
/// check opens a new one (a kept-alive connection would need no new file
/// descriptor).
pub async fn closing_target() -> SocketAddr {
    raw_target(|mut socket| async move {
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await;
    })
    .await
}

/// Speaks first, as a mail server would (`220 …`), and closes: a server
/// that is there, but not the one a check expects.
pub async fn greeting_target(greeting: &'static [u8]) -> SocketAddr {
    raw_target(move |mut socket| async move {
        let _ = socket.write_all(greeting).await;
    })
    .await
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// An HTTP server that answers every request with `json`.
pub async fn json_target(json: String) -> SocketAddr {
    let answer = move || {
        let json = json.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], json) }
    };
    serve(Router::new().fallback(answer)).await
}

/// Accepts connections and never says a word.
pub async fn hanging_target() -> SocketAddr {
    raw_target(|mut socket| async move {
        let mut buf = [0u8; 1024];
        while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        tokio::time::sleep(Duration::from_secs(3600)).await;
    })
    .await
}

/// Answers every connection with bytes that are not HTTP.
pub async fn garbage_target() -> SocketAddr {
    raw_target(|mut socket| async move {
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        let _ = socket
            .write_all(b"\x00\xffSSH-2.0-garbage\r\n\r\n\x07")
            .await;
    })
    .await
}

/// Resets every connection as soon as the request arrives.
pub async fn resetting_target() -> SocketAddr {
    raw_target(|mut socket| async move {
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        let _ = socket.set_zero_linger();
        drop(socket);
    })
    .await
}

async fn raw_target<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(handle(socket));
        }
    });
    addr
}

/// A port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A private certificate authority whose PEM a check can trust via `ca_file`.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Pulse test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for `localhost`, valid for a year, and its key, in PEM.
    pub fn server_pem(&self) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A TLS server for `localhost` whose certificate expires `days` from
    /// now (negative: expired that long ago).
    pub async fn tls_target(&self, days: i64) -> SocketAddr {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(400);
        // Half a day past the mark, so "days left" is exactly `days`.
        params.not_after = now + time::Duration::days(days) + time::Duration::hours(12);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        raw_target(move |socket| {
            let acceptor = acceptor.clone();
            async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let _ = tls.shutdown().await;
                }
            }
        })
        .await
    }
}

/// An HTTP server whose every path answers 200 while `up` holds, 503
/// while it does not: one switch for a whole outage.
pub async fn switchable_target() -> (SocketAddr, Arc<std::sync::atomic::AtomicBool>) {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let switch = up.clone();
    let app = Router::new().fallback(move || {
        let up = switch.load(std::sync::atomic::Ordering::SeqCst);
        async move {
            match up {
                true => (StatusCode::OK, "fine"),
                false => (StatusCode::SERVICE_UNAVAILABLE, "the target is down"),
            }
        }
    });
    (serve(app).await, up)
}

/// A WebSocket server (tokio-tungstenite's own): every text message gets
/// `pong: ` and the message back. With `ca`, over TLS for `localhost`.
pub async fn websocket_target(ca: Option<&TestCa>) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    let acceptor = ca.map(|ca| {
        let (cert, key) = ca.server_pem();
        let cert = rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    raw_target(move |socket| {
        let acceptor = acceptor.clone();
        async move {
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(socket).await {
                        echo_pong(tls).await;
                    }
                }
                None => echo_pong(socket).await,
            }
        }
    })
    .await
}

async fn echo_pong<S>(stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message {
            let answer = format!("pong: {text}");
            if socket.send(Message::text(answer)).await.is_err() {
                return;
            }
        }
    }
}
