//! A real OpenSSH server (Debian's openssh-server, installed by
//! scripts/setup) on a free loopback port, with a host key of its own made
//! for the test and no way to log in. Stopped on drop.

use super::Daemon;
use std::process::Command;

pub struct Sshd {
    _daemon: Daemon,
    pub port: u16,
    /// Holds the host key and config; removed on drop.
    _dir: tempfile::TempDir,
}

impl Sshd {
    pub async fn start() -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("pulse-sshd-")
            .tempdir()
            .unwrap();
        let key = dir.path().join("host_key");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen runs (scripts/setup installs openssh-server)");
        assert!(made.success(), "ssh-keygen made a host key");
        // sshd insists on its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1:{port}\nHostKey {}\nPidFile none\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication no\nUsePAM no\n",
                key.display()
            ),
        )
        .unwrap();
        // sshd must be started by its absolute path (it re-executes itself).
        let mut command = Command::new("/usr/sbin/sshd");
        command.args(["-D", "-e", "-f"]).arg(&config);
        command.stderr(std::process::Stdio::null());
        Sshd {
            _daemon: Daemon::start(command, port, "sshd").await,
            port,
            _dir: dir,
        }
    }
}
