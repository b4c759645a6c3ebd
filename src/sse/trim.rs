//! Gives the memory of departed streams back to the operating system.
//!
//! glibc keeps what a program frees in its heaps for reuse and returns it
//! only when the top of a heap is free. After thousands of streams have come
//! and gone, their buffers are free but scattered, and the server's RSS stays
//! at its peak (12 → 205 MiB after a minute of 5,000 clients churning, with
//! none left). `malloc_trim` returns every free page of every heap; here it
//! brought that 205 MiB back to 21 MiB. It is called when the number of open
//! streams has fallen to half of its recent peak (every connect counts
//! towards the peak, so a crowd that came and went between two looks is not
//! missed), so a steady server never pays for it and a busy one pays once
//! per wave of departures.

use crate::hub::Hub;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;

/// Below this many streams at the peak there is too little to give back.
const WORTH_TRIMMING: usize = 256;
/// How often the count of open streams is looked at: two atomic reads, so
/// a second costs nothing, and the memory is back about a second after a
/// crowd left (with 10 s, a reading 2 s after 9,000 streams closed still
/// showed their 42 MiB, and looked like a leak; docs/benchmarks.md).
const EVERY: Duration = Duration::from_secs(1);

pub(crate) async fn after_departures(hub: Arc<Hub>, shutdown: Shutdown) {
    let mut ticks = tokio::time::interval(EVERY);
    let ended = shutdown.triggered();
    tokio::pin!(ended);
    let mut peak = 0;
    loop {
        tokio::select! {
            _ = &mut ended => return,
            _ = ticks.tick() => {}
        }
        let open = hub.connected_clients();
        peak = peak.max(hub.take_peak_clients());
        if peak >= WORTH_TRIMMING && open <= peak / 2 {
            // Walks every heap: off the async workers.
            let _ = tokio::task::spawn_blocking(trim).await;
            tracing::debug!(open, peak, "freed memory returned after streams left");
            peak = open;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks glibc's own heaps under their locks; it
    // takes no pointers from us and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
