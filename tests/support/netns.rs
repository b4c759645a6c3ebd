//! A network namespace of the test's own, joined to this one by a veth
//! pair: a host one hop away, at `there` (IPv4) and `there_v6`, for the
//! ping check's tests. Made with iproute2 (root), removed on drop.

use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Namespace {
    pub name: String,
    pub there: IpAddr,
    pub there_v6: IpAddr,
    responder: Option<std::process::Child>,
}

impl Namespace {
    pub fn new() -> Namespace {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("pulse-{}-{n}", std::process::id());
        // A random /30 of 10.200.0.0/13 and /64 of fd00:5::/32: two tests
        // side by side picking the same is a chance of one in 500,000.
        let pick = fastrand::u32(..);
        let (net_a, net_b, net_c) = (
            200 + (pick >> 24) % 8,
            (pick >> 16) & 0xff,
            (pick & 0x3f) * 4,
        );
        let here = format!("10.{net_a}.{net_b}.{}", net_c + 1);
        let there = format!("10.{net_a}.{net_b}.{}", net_c + 2);
        let here_v6 = format!("fd00:5:{:x}:{:x}::1", pick >> 16, pick & 0xffff);
        let there_v6 = format!("fd00:5:{:x}:{:x}::2", pick >> 16, pick & 0xffff);
        let here_link = format!("pv{pick:08x}a");
        let there_link = format!("pv{pick:08x}b");
        for args in [
            vec!["netns", "add", &name],
            vec![
                "link",
                "add",
                &here_link,
                "type",
                "veth",
                "peer",
                "name",
                &there_link,
            ],
            vec!["link", "set", &there_link, "netns", &name],
            vec!["addr", "add", &format!("{here}/30"), "dev", &here_link],
            vec![
                "-6",
                "addr",
                "add",
                &format!("{here_v6}/64"),
                "dev",
                &here_link,
                "nodad",
            ],
            vec!["link", "set", &here_link, "up"],
            vec![
                "-n",
                &name,
                "addr",
                "add",
                &format!("{there}/30"),
                "dev",
                &there_link,
            ],
            vec![
                "-n",
                &name,
                "-6",
                "addr",
                "add",
                &format!("{there_v6}/64"),
                "dev",
                &there_link,
                "nodad",
            ],
            vec!["-n", &name, "link", "set", &there_link, "up"],
            vec!["-n", &name, "link", "set", "lo", "up"],
        ] {
            ip(&args);
        }
        Namespace {
            name,
            there: there.parse().unwrap(),
            there_v6: there_v6.parse().unwrap(),
            responder: None,
        }
    }

    /// Makes the host answer no echo (every ping lost).
    pub fn ignore_pings(&self) {
        self.sysctl("net.ipv4.icmp_echo_ignore_all=1");
        self.sysctl("net.ipv6.icmp.echo_ignore_all=1");
    }

    /// Makes the host answer each IPv4 echo `seconds` late.
    pub fn answer_late(&mut self, seconds: f64) {
        self.sysctl("net.ipv4.icmp_echo_ignore_all=1");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/slow_echo.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "/usr/bin/python3", script])
            .arg(seconds.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("ip netns exec runs python3");
        let mut ready = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready", "the slow responder started");
        self.responder = Some(child);
    }

    fn sysctl(&self, setting: &str) {
        let done = Command::new("ip")
            .args(["netns", "exec", &self.name, "sysctl", "-qw", setting])
            .status()
            .unwrap();
        assert!(done.success(), "sysctl {setting} in {}", self.name);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Some(mut responder) = self.responder.take() {
            let _ = responder.kill();
            let _ = responder.wait();
        }
        // The veth pair goes with the namespace that holds one end.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .expect("ip runs (iproute2; scripts/setup installs it)");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}
