//! The browser's clock for the cards' "… ago" texts, spread over many
//! signals.
//!
//! reactive_graph keeps a signal's subscribers in an ordered set, and an
//! effect that re-runs leaves and re-joins the set of every signal it read;
//! leaving shifts every subscriber after it. With 5,000 cards, two texts
//! each re-running on one clock signal every second cost 10,000²/2 moves a
//! second: most of a CPU core, and every search and fold waited behind it.
//! Each card reads one of `SHARDS` signals instead, so a re-run shifts only
//! that shard's few hundred subscribers.

use leptos::prelude::*;

const SHARDS: usize = 64;

#[derive(Clone, Copy)]
pub struct Clock {
    shards: StoredValue<Vec<RwSignal<Option<u64>>>>,
}

impl Clock {
    /// Reads `None` (server render and hydration, so both render the same
    /// text) until the first `set`.
    pub fn new() -> Clock {
        Clock {
            shards: StoredValue::new((0..SHARDS).map(|_| RwSignal::new(None)).collect()),
        }
    }

    /// The signal for the `n`th card.
    pub fn shard(&self, n: usize) -> RwSignal<Option<u64>> {
        self.shards.with_value(|shards| shards[n % SHARDS])
    }

    pub fn set(&self, now_ms: u64) {
        self.shards.with_value(|shards| {
            for shard in shards {
                shard.set(Some(now_ms));
            }
        });
    }
}
