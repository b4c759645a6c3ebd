//! Pulse behind a real nginx (Debian's, installed by scripts/setup) as a
//! reverse proxy with its default `proxy_buffering on`: events must still
//! arrive at once (Pulse sends `X-Accel-Buffering: no`), and replay by
//! `Last-Event-ID` must work through it.

mod support;

use pulse::status::CheckStatus;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{Server, SseReader, now_ms};

const SECOND: Duration = Duration::from_secs(1);

/// nginx on a free loopback port, proxying to `upstream`; stopped on drop.
struct Nginx {
    child: std::process::Child,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    async fn start(upstream: &str) -> Nginx {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("nginx is installed (scripts/setup installs it)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("pulse-nginx-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let upstream = upstream.trim_start_matches("http://");
        // Only what a plain reverse proxy needs; buffering left at its default (on).
        let config = format!(
            "daemon off;\nuser root;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
               fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://{upstream};\n\
                   proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n",
            dir = dir.display()
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let child = std::process::Command::new(nginx)
            .args(["-c", conf.to_str().unwrap(), "-p", dir.to_str().unwrap()])
            // Its workers must not inherit the test's output pipes.
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts");
        let proxy = Nginx { child, dir, port };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "nginx did not listen: {}",
            std::fs::read_to_string(proxy.dir.join("error.log")).unwrap_or_default()
        );
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM is nginx's fast shutdown: the master stops its workers at
        // once. (SIGKILL would orphan the workers; SIGQUIT would wait for open
        // streams whose clients live on the runtime this drop is blocking.)
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn events_pass_through_a_buffering_nginx_at_once_and_replay_works() {
    // 5 small events a second would take many seconds to fill nginx's
    // buffers: any buffering shows up as seconds of lag.
    let server = Server::start(&["--demo-rate", "5/s"]).await;
    let nginx = Nginx::start(&server.base).await;

    let mut stream = SseReader::open(&nginx.url("/api/events"), None).await;
    assert_eq!(
        stream.next_event_within(5 * SECOND).await.unwrap().0,
        "snapshot"
    );
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let (kind, id, data) = stream.next_event_within(5 * SECOND).await.unwrap();
        // Results, and on a busy machine the host checks' `alert` events.
        if kind != "message" {
            continue;
        }
        let status: CheckStatus = serde_json::from_str(&data).unwrap();
        if status.group == "synthetic" {
            let lag = now_ms().saturating_sub(status.checked_at_ms);
            assert!(
                lag < 500,
                "event arrived {lag} ms after publish through nginx"
            );
            seen.push((id.unwrap(), data));
        }
    }
    drop(stream);

    // Reconnect through nginx with the id of an early event: a replay, not a snapshot.
    let mut resumed = SseReader::open(&nginx.url("/api/events"), Some(&seen[2].0)).await;
    let (kind, id, _) = resumed.next_event_within(5 * SECOND).await.unwrap();
    assert_ne!(kind, "snapshot");
    assert_eq!(
        id.unwrap().parse::<u64>().unwrap(),
        seen[2].0.parse::<u64>().unwrap() + 1
    );
}
