//! A real MariaDB (Debian's mariadb-server, installed by scripts/setup) in
//! a data directory of its own, on a free loopback port, with a user
//! `pulse` whose password the test chooses. Stopped on drop.

use super::Daemon;
use std::process::Command;

pub struct Mariadb {
    _daemon: Daemon,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Mariadb {
    pub async fn start(password: &str) -> Mariadb {
        let dir = tempfile::Builder::new()
            .prefix("pulse-mariadb-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let installed = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--skip-test-db"])
            .args(["--auth-root-authentication-method=normal"])
            .arg(format!("--datadir={}", data.display()))
            .output()
            .expect("mariadb-install-db runs (scripts/setup installs mariadb-server)");
        assert!(
            installed.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new("/usr/sbin/mariadbd");
        command
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("socket").display()))
            .arg(format!("--port={port}"))
            .args(["--skip-log-bin", "--innodb-buffer-pool-size=16M"])
            .arg(format!(
                "--log-error={}",
                dir.path().join("error.log").display()
            ));
        let mariadb = Mariadb {
            _daemon: Daemon::start(command, port, "mariadbd").await,
            port,
            dir,
        };
        mariadb.sql(&format!(
            "CREATE USER 'pulse'@'%' IDENTIFIED BY '{password}'; GRANT USAGE ON *.* TO 'pulse'@'%';"
        ));
        mariadb
    }

    /// Runs `statements` as root, over the server's socket.
    pub fn sql(&self, statements: &str) -> String {
        let output = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("socket").display()
            ))
            .args(["-uroot", "--batch", "--skip-column-names", "-e", statements])
            .output()
            .expect("the mariadb client runs");
        assert!(
            output.status.success(),
            "{statements}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}
