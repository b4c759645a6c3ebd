//! A real redis-server (Debian's, installed by scripts/setup) on a free
//! loopback port, keeping nothing on disk: a restart loses its data, as a
//! Redis without persistence does. Stopped on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Redis {
    child: Child,
    pub port: u16,
    /// What clients must give (`requirepass`), if anything.
    password: Option<String>,
}

impl Redis {
    pub async fn start() -> Redis {
        Redis::start_on(free_port(), &[], None).await
    }

    /// One that takes only clients giving `password`.
    pub async fn start_with_password(password: &str) -> Redis {
        let port = free_port();
        Redis::start_on(port, &["--requirepass", password], Some(password)).await
    }

    /// A replica of `master`, following it.
    pub async fn start_replica_of(master: &Redis) -> Redis {
        let port = free_port();
        let master_port = master.port.to_string();
        let mut args = vec!["--replicaof", "127.0.0.1", master_port.as_str()];
        if let Some(password) = &master.password {
            args.extend(["--masterauth", password.as_str()]);
        }
        Redis::start_on(port, &args, None).await
    }

    async fn start_on(port: u16, extra: &[&str], password: Option<&str>) -> Redis {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir", "/tmp"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server is installed (scripts/setup installs it)");
        let redis = Redis {
            child,
            port,
            password: password.map(str::to_string),
        };
        for _ in 0..100 {
            if redis.cli(&["PING"]).trim() == "PONG" {
                return redis;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not answer on port {port}");
    }

    pub fn url(&self) -> String {
        let password = self.password.as_ref().map(|p| format!(":{p}@"));
        format!(
            "redis://{}127.0.0.1:{}",
            password.unwrap_or_default(),
            self.port
        )
    }

    /// Kills it and starts an empty one on the same port.
    pub async fn restart_empty(&mut self) {
        self.stop();
        let password = self.password.clone();
        let extra: Vec<&str> = match &password {
            Some(password) => vec!["--requirepass", password],
            None => vec![],
        };
        let fresh = Redis::start_on(self.port, &extra, password.as_deref()).await;
        let old = std::mem::replace(self, fresh);
        std::mem::forget(old);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// redis-cli's raw answer to one command.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cli = Command::new("redis-cli");
        cli.args(["-p", &self.port.to_string(), "--raw"]);
        if let Some(password) = &self.password {
            cli.args(["--no-auth-warning", "-a", password]);
        }
        let output = cli.args(args).output().expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The shared log's entries after the log id `after` (`-` for all), as
    /// (log id, field → value).
    pub fn log_after(
        &self,
        after: &str,
    ) -> Vec<(String, std::collections::HashMap<String, String>)> {
        let start = match after {
            "-" => "-".to_string(),
            id => format!("({id}"),
        };
        let text = self.cli(&["XRANGE", "{pulse}:log", &start, "+"]);
        // An empty log (or none yet) is one empty line.
        let mut lines = text.lines().filter(|l| !l.is_empty()).peekable();
        let mut entries = Vec::new();
        while let Some(id) = lines.next() {
            let mut fields = std::collections::HashMap::new();
            while let Some(next) = lines.peek() {
                if is_log_id(next) {
                    break;
                }
                let field = lines.next().unwrap().to_string();
                let value = lines.next().unwrap_or_default().to_string();
                fields.insert(field, value);
            }
            entries.push((id.to_string(), fields));
        }
        entries
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_log_id(line: &str) -> bool {
    line.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && (ms.to_owned() + seq).bytes().all(|b| b.is_ascii_digit())
    })
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
