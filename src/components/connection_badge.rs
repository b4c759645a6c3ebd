//! Whether the page is receiving events, and when the last one came.

use crate::live::{Link, ago};
use leptos::prelude::*;

#[component]
pub fn ConnectionBadge(link: Link) -> impl IntoView {
    let state = move || link.connection.get().label();
    let last_event = move || match (link.last_event_at_ms.get(), link.now_ms.get()) {
        (Some(at), Some(now)) => format!("last event {}", ago(at, now)),
        _ => "waiting for events".to_string(),
    };
    view! {
        // Only the state is a live region: "last event 2 s ago" changes
        // every second, and a screen reader would read each one out.
        <div class="connection">
            <span
                role="status"
                class=move || format!("badge {}", state())
                data-state=state
                data-last-event-id=move || link.last_event_id.get()
                data-events=move || link.events.get()
            >
                <span class="dot" aria-hidden="true"></span>
                {state}
            </span>
            <span class="last-event">{last_event}</span>
        </div>
    }
}
