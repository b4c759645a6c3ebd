//! A real IMAP and POP3 server: Debian's Dovecot (installed by
//! scripts/setup) in the foreground, on four free loopback ports (IMAP,
//! IMAPS, POP3, POP3S), with STARTTLS and a certificate the test's own CA
//! issued for `localhost`. Nobody can log in. Stopped on drop.

use super::Daemon;
use super::targets::TestCa;
use std::process::Command;

pub struct Dovecot {
    _daemon: Daemon,
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
    _dir: tempfile::TempDir,
}

impl Dovecot {
    pub async fn start(ca: &TestCa) -> Dovecot {
        let dir = tempfile::Builder::new()
            .prefix("pulse-dovecot-")
            .tempdir()
            .unwrap();
        // Its login processes run as Debian's `dovenull` and must reach it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path();
        let (cert, key) = ca.server_pem();
        std::fs::write(root.join("cert.pem"), cert).unwrap();
        std::fs::write(root.join("key.pem"), key).unwrap();
        for sub in ["run", "state"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        let listeners: Vec<std::net::TcpListener> = (0..4)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(listeners);
        let (imap, imaps, pop3, pop3s) = (ports[0], ports[1], ports[2], ports[3]);
        let root = root.display();
        let config = format!(
            "protocols = imap pop3\nlisten = 127.0.0.1\n\
             base_dir = {root}/run\nstate_dir = {root}/state\n\
             log_path = /dev/stderr\ninfo_log_path = /dev/null\n\
             ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n\
             disable_plaintext_auth = yes\n\
             passdb {{\n  driver = static\n  args = password=nobody-logs-in-{imap}\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={root}/home\n}}\n\
             mail_location = maildir:{root}/mail\n\
             service imap-login {{\n  chroot =\n\
             \x20 inet_listener imap {{\n    port = {imap}\n  }}\n\
             \x20 inet_listener imaps {{\n    port = {imaps}\n    ssl = yes\n  }}\n}}\n\
             service pop3-login {{\n  chroot =\n\
             \x20 inet_listener pop3 {{\n    port = {pop3}\n  }}\n\
             \x20 inet_listener pop3s {{\n    port = {pop3s}\n    ssl = yes\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n"
        );
        let path = dir.path().join("dovecot.conf");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new("/usr/sbin/dovecot");
        command.arg("-F").arg("-c").arg(&path);
        let daemon = Daemon::start(command, pop3s, "dovecot").await;
        Dovecot {
            _daemon: daemon,
            imap,
            imaps,
            pop3,
            pop3s,
            _dir: dir,
        }
    }
}
