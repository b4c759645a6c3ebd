//! The `pulse` server binary: parse flags, set up logging, run.

use clap::Parser;
use pulse::settings::Settings;
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// How long exit waits for work still on the blocking pool. A host probe
/// stuck on a hung filesystem must not hold the process past its deadline,
/// which dropping the runtime (it waits for blocking threads) would do.
const BLOCKING_WORK_GRACE: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    pulse::allocator::run_with_tuned_malloc();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pulse: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(pulse::server::run(settings));
    runtime.shutdown_timeout(BLOCKING_WORK_GRACE);
    match outcome {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pulse: {error}");
            ExitCode::FAILURE
        }
    }
}
