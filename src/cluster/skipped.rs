//! What a replica reads from Redis and does not take. Redis holds what any
//! process may write (an operator's `redis-cli`, a script, a bug
//! elsewhere), so nothing read there is trusted to be Pulse's: an entry of
//! the log that is no result, or whose id is past the ids a browser holds,
//! or of a check this replica's config does not have; an epoch that is no
//! id; a ping at a time no replica's clock says. Each is skipped and
//! counted (`pulse_cluster_skipped_total{reason}`), and the first of each
//! reason is logged. Only the first: the same entries are read again (the
//! log's newest at each new epoch, the notes whole after each reconnect),
//! and a flood of them must not become a flood of the server's log.

use crate::metrics::{Metrics, ReasonLabel};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// An entry of the log with no result of Pulse's in it.
    NotAResult,
    /// An entry of the log whose id is no event id (`ids::END`).
    IdOutOfRange,
    /// A result of a check this replica's config does not have.
    UnknownCheck,
    /// An epoch that is no event id: a new epoch replaces it.
    EpochOutOfRange,
    /// A ping note that is no ping, or at a time past every clock.
    NotAPing,
}

impl Skipped {
    fn reason(self) -> &'static str {
        match self {
            Skipped::NotAResult => "not_a_result",
            Skipped::IdOutOfRange => "id_out_of_range",
            Skipped::UnknownCheck => "unknown_check",
            Skipped::EpochOutOfRange => "epoch_out_of_range",
            Skipped::NotAPing => "not_a_ping",
        }
    }

    fn described(self) -> &'static str {
        match self {
            Skipped::NotAResult => "an entry of the log that is no result of Pulse's",
            Skipped::IdOutOfRange => "an entry of the log whose id is past every event id",
            Skipped::UnknownCheck => "a result of a check this replica's config does not have",
            Skipped::EpochOutOfRange => {
                "an epoch that is no event id (a new one replaces it; clients get a snapshot)"
            }
            Skipped::NotAPing => "a ping note that is no ping, or at a time past every clock",
        }
    }
}

pub(crate) struct Skips {
    metrics: Arc<Metrics>,
    /// One bit per `Skipped` already logged.
    told: AtomicU8,
}

impl Skips {
    pub fn new(metrics: Arc<Metrics>) -> Skips {
        Skips {
            metrics,
            told: AtomicU8::new(0),
        }
    }

    /// Counts one thing skipped; the first of its reason is logged, named
    /// by `which` (an entry's id, an epoch, a check: never a note's text,
    /// which may hold a token's hash).
    pub(crate) fn count(&self, skipped: Skipped, which: &str) {
        let reason = skipped.reason();
        self.metrics
            .cluster_skipped
            .get_or_create(&ReasonLabel { reason })
            .inc();
        let bit = 1 << skipped as u8;
        if self.told.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            tracing::warn!(
                which,
                reason,
                "cluster: {} skipped; the next ones are only counted (pulse_cluster_skipped_total)",
                skipped.described()
            );
        }
    }
}
