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
    assert_eq!(report["failed"], 0);
    assert_eq!(report["missed"], 0);
    assert_eq!(report["duplicated"], 0);
    assert_eq!(report["clients_with_gaps"], 0);
    // Events flowed to the clients and were timed. How many a second is
    // a figure of speed, measured by scripts/bench-sse (docs/benchmarks.md).
    let deliveries = report["deliveries_per_second"].as_f64().unwrap()
        * report["measured_seconds"].as_f64().unwrap();
    assert!(deliveries >= 200.0, "{deliveries} deliveries: {report}");
    assert!(report["latency_p99_ms"].as_u64().is_some());
}
