//! The `pulse` server binary: parse flags, set up logging, run.

use clap::Parser;
use pulse::redact::without_credentials;
use pulse::settings::{Command, Settings};
use std::io::Write;
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
        .with_writer(|| WithoutCredentials(std::io::stderr()))
        .init();
    let settings = Settings::parse();
    if let Some(command) = &settings.command {
        return run_tool(command);
    }
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
            eprintln!("pulse: {}", without_credentials(&error));
            ExitCode::FAILURE
        }
    }
}

/// The log's writer: every line loses the passwords of the URLs in it,
/// whoever wrote it (a driver's error may quote the URL it was given).
/// The formatter hands over one whole line per write.
struct WithoutCredentials<W>(W);

impl<W: Write> Write for WithoutCredentials<W> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shown = without_credentials(&String::from_utf8_lossy(line));
        self.0.write_all(shown.as_bytes())?;
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `pulse hash-password` and `pulse new-token`: what goes into `[access]`.
fn run_tool(command: &Command) -> ExitCode {
    let printed = match command {
        Command::HashPassword => read_password().and_then(|p| pulse::access::hash_password(&p)),
        Command::NewToken => pulse::access::new_token().map(|(token, sha256)| {
            format!(
                "token (give it to the script; it is not stored anywhere): {token}\n\
                 for the config: tokens = [{{ name = \"…\", sha256 = \"{sha256}\", scope = \"read\" }}]"
            )
        }),
    };
    match printed {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pulse: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One line of stdin, without its line ending. Not echoed anywhere.
fn read_password() -> Result<String, String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("password (input is shown; pipe it in to hide it), then Enter:");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(password)
}
