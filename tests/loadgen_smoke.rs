//! A small run of the benchmark's load generator, so CI proves it works and
//! that 200 clients lose nothing. The big runs are in docs/benchmarks.md, not here.

mod support;

use support::Server;

#[tokio::test]
async fn two_hundred_clients_receive_every_event() {
    let server = Server::start(&["--demo-rate", "50/s"]).await;
    let output = tokio::process::Command::new(support::tools::loadgen())
        .args([
            "--url",
            &server.url("/api/events"),
            "--clients",
            "200",
            "--duration",
            "3s",
        ])
        .args([
            "--server-pid",
            &server.pid().to_string(),
            "--json",
            "--strict",
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "loadgen failed: {stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["connected"], 200);
    assert_eq!(report["missed"], 0);
    assert_eq!(report["duplicated"], 0);
    // 200 clients × 50 events/s, give or take the edges of the window.
    let rate = report["deliveries_per_second"].as_f64().unwrap();
    assert!(rate > 200.0 * 50.0 * 0.8, "{rate} deliveries/s");
    assert!(report["latency_p99_ms"].as_u64().is_some());
}
