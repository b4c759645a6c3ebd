//! A real DNS server: Debian's unbound (installed by scripts/setup) on a
//! free loopback port, in the foreground, answering for a zone of the
//! test's own (`pulse.test.`) from its local data and recursing nowhere.
//! Stopped on drop.

use super::Daemon;
use std::process::Command;

pub struct Unbound {
    _daemon: Daemon,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// Records of `many.pulse.test.`: more A records than fit a UDP answer of
/// 1,232 bytes, so a client must ask again over TCP.
pub const MANY: usize = 120;

impl Unbound {
    pub async fn start() -> Unbound {
        let dir = tempfile::Builder::new()
            .prefix("pulse-unbound-")
            .tempdir()
            .unwrap();
        // A port free for both UDP and TCP.
        let port = loop {
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = udp.local_addr().unwrap().port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        let many: String = (0..MANY)
            .map(|i| format!("  local-data: \"many.pulse.test. 300 IN A 198.51.100.{i}\"\n"))
            .collect();
        let config = dir.path().join("unbound.conf");
        std::fs::write(
            &config,
            format!(
                "server:\n  interface: 127.0.0.1@{port}\n  port: {port}\n  do-daemonize: no\n\
                 \x20 username: \"\"\n  chroot: \"\"\n  directory: \"{dir}\"\n  pidfile: \"\"\n\
                 \x20 use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n\
                 \x20 access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n\
                 \x20 do-not-query-localhost: yes\n  max-udp-size: 1232\n\
                 \x20 local-zone: \"pulse.test.\" static\n\
                 \x20 local-data: \"www.pulse.test. 300 IN A 192.0.2.10\"\n\
                 \x20 local-data: \"www.pulse.test. 300 IN A 192.0.2.11\"\n\
                 \x20 local-data: \"pulse.test. 300 IN MX 10 mail.pulse.test.\"\n\
                 \x20 local-data: 'pulse.test. 300 IN TXT \"v=spf1 -all\"'\n\
                 \x20 local-data: \"alias.pulse.test. 300 IN CNAME www.pulse.test.\"\n\
                 {many}\
                 remote-control:\n  control-enable: no\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let mut command = Command::new("/usr/sbin/unbound");
        command.args(["-d", "-c"]).arg(&config);
        Unbound {
            _daemon: Daemon::start(command, port, "unbound").await,
            port,
            _dir: dir,
        }
    }
}
