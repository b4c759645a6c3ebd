//! Debian's aiosmtpd (python3-aiosmtpd, installed by scripts/setup) as a
//! real SMTP server for the e-mail notifier's and the SMTP check's tests.

use std::time::Duration;

/// Debian's aiosmtpd on loopback (tests/support/smtp_server.py), keeping
/// each mail as a file; stopped when dropped.
pub struct SmtpServer {
    pub port: u16,
    mails: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl SmtpServer {
    pub async fn start(mode: &str, ca: &super::targets::TestCa) -> SmtpServer {
        use tokio::io::AsyncBufReadExt;
        let mails = tempfile::tempdir().unwrap();
        let (cert, key) = ca.server_pem();
        let cert_path = mails.path().join("cert.pem");
        let key_path = mails.path().join("key.pem");
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        let inbox = mails.path().join("inbox");
        std::fs::create_dir(&inbox).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");
        let mut child = tokio::process::Command::new("/usr/bin/python3")
            .arg(script)
            .args([&inbox, &cert_path, &key_path])
            .args([mode, "pulse", "mail-pass-42"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("/usr/bin/python3 runs (scripts/setup installs python3-aiosmtpd)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP server starts within 20 s")
            .unwrap()
            .expect("the SMTP server says where it listens");
        let port = line.strip_prefix("listening ").unwrap().parse().unwrap();
        SmtpServer {
            port,
            mails,
            _child: child,
        }
    }

    pub fn mails(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(self.mails.path().join("inbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} mails within {limit:?}",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
