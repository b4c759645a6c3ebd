//! The other end of a notifier: a local HTTP server that keeps every POST
//! it gets (path, headers, body), and answers as the test asks: at once,
//! with failures first, or never.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the receiver answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Ok,
    /// 500 to the first `n` requests, then 200.
    FailFirst(usize),
    /// Never answers (until the test ends).
    Hang,
    /// Never answers the first `n` requests, then 200: a sender killed
    /// while it waits finds it answering when it tries again.
    HangFirst(usize),
}

#[derive(Clone, Debug)]
pub struct Post {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether it was answered 2xx.
    pub accepted: bool,
}

impl Post {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    posts: Arc<Mutex<Vec<Post>>>,
}

struct Shared {
    answer: Answer,
    seen: AtomicUsize,
    posts: Arc<Mutex<Vec<Post>>>,
}

impl Receiver {
    pub async fn start(answer: Answer) -> Receiver {
        let posts = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            answer,
            seen: AtomicUsize::new(0),
            posts: posts.clone(),
        });
        let app = Router::new()
            .route("/", post(receive))
            .route("/{*path}", post(receive))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, posts }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, answered or not.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// The accepted requests to `path`.
    pub fn accepted(&self, path: &str) -> Vec<Post> {
        self.posts()
            .into_iter()
            .filter(|p| p.accepted && p.path == path)
            .collect()
    }

    /// Waits until `path` has received `n` requests, answered or not;
    /// panics after `limit`.
    pub async fn wait_for_tries(&self, path: &str, n: usize, limit: Duration) -> Vec<Post> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let tried: Vec<Post> = self
                .posts()
                .into_iter()
                .filter(|p| p.path == path)
                .collect();
            if tried.len() >= n {
                return tried;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} received {} of {n} requests within {limit:?}",
                tried.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `path` has accepted `n` requests; panics after `limit`.
    pub async fn wait_for(&self, path: &str, n: usize, limit: Duration) -> Vec<Post> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let accepted = self.accepted(path);
            if accepted.len() >= n {
                return accepted;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} accepted {} of {n} messages within {limit:?}: {:#?}",
                accepted.len(),
                self.posts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> StatusCode {
    let path = request.uri().path().to_string();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let n = shared.seen.fetch_add(1, Ordering::SeqCst);
    let status = match shared.answer {
        Answer::Ok => StatusCode::OK,
        Answer::FailFirst(failures) if n < failures => StatusCode::INTERNAL_SERVER_ERROR,
        Answer::FailFirst(_) => StatusCode::OK,
        Answer::HangFirst(hung) if n >= hung => StatusCode::OK,
        Answer::Hang | Answer::HangFirst(_) => {
            shared.posts.lock().unwrap().push(Post {
                path,
                headers,
                body,
                accepted: false,
            });
            std::future::pending::<()>().await;
            unreachable!()
        }
    };
    shared.posts.lock().unwrap().push(Post {
        path,
        headers,
        body,
        accepted: status.is_success(),
    });
    status
}
