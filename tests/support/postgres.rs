//! A real Postgres (Debian's, installed by scripts/setup) in a data
//! directory of its own, on a free loopback port, with no Unix socket and
//! trust login for the user `pulse`. Stopped on drop; `stop` and `start`
//! again keep its data, as a database server restarting does.
//!
//! Postgres refuses to run as root: as root (CI), its programs run as the
//! `postgres` user Debian's package creates, through `setpriv`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Postgres {
    child: Option<Child>,
    /// The superuser's password, when logins need one (else trust).
    password: Option<String>,
    /// Holds the data directory; removed on drop.
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Postgres {
    /// A new, empty server.
    pub async fn start() -> Postgres {
        Postgres::start_with(None).await
    }

    /// A new, empty server whose user `pulse` logs in with `password`
    /// (SCRAM), and nothing else gets in.
    pub async fn start_with_password(password: &str) -> Postgres {
        Postgres::start_with(Some(password)).await
    }

    async fn start_with(password: Option<&str>) -> Postgres {
        let dir = tempfile::Builder::new()
            .prefix("pulse-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if running_as_root() {
            // The postgres user must reach and own its data directory.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let status = Command::new("chown")
                .args(["postgres:postgres", data.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success(), "chown of the data directory");
        }
        let mut initdb = as_postgres(&binary("initdb"));
        initdb.args(["--username=pulse", "--no-sync", "--encoding=UTF8"]);
        match password {
            None => initdb.arg("--auth=trust"),
            Some(password) => {
                let file = dir.path().join("password");
                std::fs::write(&file, password).unwrap();
                initdb.arg("--auth=scram-sha-256").arg("--pwfile").arg(file)
            }
        };
        let output = initdb
            .arg("-D")
            .arg(&data)
            .output()
            .expect("initdb runs (scripts/setup installs postgresql)");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut postgres = Postgres {
            child: None,
            password: password.map(str::to_string),
            dir,
            port,
        };
        postgres.run().await;
        postgres
    }

    /// Where Pulse connects.
    pub fn url(&self) -> String {
        let password = self.password.as_ref().map(|p| format!(":{p}"));
        format!(
            "postgres://pulse{}@127.0.0.1:{}/postgres",
            password.unwrap_or_default(),
            self.port
        )
    }

    /// Stops the server (a fast shutdown), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT: the "fast" shutdown, which ends every session.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data after `stop`.
    pub async fn run(&mut self) {
        let child = as_postgres(&binary("postgres"))
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            // A test's database: nothing has to survive a power cut.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        for _ in 0..200 {
            if self.accepts_logins().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("postgres did not accept logins on port {}", self.port);
    }

    async fn accepts_logins(&self) -> bool {
        let Ok((client, connection)) =
            tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await
        else {
            return false;
        };
        tokio::spawn(connection);
        client.simple_query("SELECT 1").await.is_ok()
    }

    /// A client for the test's own queries.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("a test connection");
        tokio::spawn(connection);
        client
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Immediate: the data directory goes with the test.
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// Debian keeps Postgres's programs in /usr/lib/postgresql/N/bin, off
/// PATH; the newest there, else whatever PATH has.
fn binary(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(name))
        .filter(|path| path.exists())
        .collect();
    versions.sort_by_key(|path| version_of(path));
    versions.pop().unwrap_or_else(|| PathBuf::from(name))
}

fn version_of(bin: &Path) -> u32 {
    let dir = bin.parent().and_then(Path::parent);
    let name = dir.and_then(Path::file_name).and_then(|n| n.to_str());
    name.and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn as_postgres(program: &Path) -> Command {
    if !running_as_root() {
        return Command::new(program);
    }
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
        .arg(program);
    command
}
