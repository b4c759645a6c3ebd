//! Shutdown, in one place. A signal (SIGTERM, SIGINT/Ctrl-C) cancels one token;
//! every open SSE stream watches it, writes its final `Done` event and ends,
//! so the HTTP server's graceful shutdown has nothing left to wait for. A
//! deadline guarantees the process is gone within a second even if some
//! connection will not drain (a client that stopped reading, say).

use std::time::Duration;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// How long after the signal the process exits whatever is still open. A
/// backstop: the drain limit, saving the history (at most 400 ms) and the
/// runtime's stop (100 ms) end well before it, so reaching it means
/// something hung, and the exit status says so.
pub(crate) const EXIT_DEADLINE: Duration = Duration::from_millis(900);

/// How long after the signal open connections get to finish before the
/// server stops waiting for them, leaving time to save the history before
/// `EXIT_DEADLINE`. Streams end at once; only a client that stopped reading
/// (its `Done` cannot be written) is still open by then.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_millis(300);

#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown of its own that also follows this one: stopping one check
    /// on reload, say, without stopping the others.
    pub(crate) fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
        }
    }

    /// Starts shutting down; idempotent.
    pub(crate) fn trigger(&self) {
        self.token.cancel();
    }

    pub(crate) fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once shutdown has started. Owned, so a stream can pin it
    /// once instead of re-registering on every loop turn.
    pub(crate) fn triggered(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    /// The next tick of a periodic task (a check, the demo source), or
    /// `false` once shutdown has started: `while shutdown.tick(&mut t).await`.
    pub(crate) async fn tick(&self, ticker: &mut tokio::time::Interval) -> bool {
        tokio::select! {
            biased;
            _ = self.token.cancelled() => false,
            _ = ticker.tick() => true,
        }
    }

    /// `draining`'s output, or `None` if shutdown started more than
    /// `DRAIN_LIMIT` before it finished.
    pub(crate) async fn within_drain_limit<F: std::future::Future>(
        &self,
        draining: F,
    ) -> Option<F::Output> {
        let given_up = async {
            self.token.cancelled().await;
            tokio::time::sleep(DRAIN_LIMIT).await;
        };
        tokio::select! {
            output = draining => Some(output),
            () = given_up => None,
        }
    }

    /// Waits for SIGTERM or SIGINT, then triggers shutdown and arms the exit
    /// deadline.
    pub(crate) async fn on_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; ending every stream");
        self.trigger();
        tokio::spawn(async {
            tokio::time::sleep(EXIT_DEADLINE).await;
            tracing::warn!("connections still open at the exit deadline; exiting anyway");
            // Not a clean stop: the history may have lost its last batch.
            std::process::exit(1);
        });
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
