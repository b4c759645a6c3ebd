//! One check on the public status page: its name, health, the sentence the
//! config gives it for the public (never the live detail), uptime over 24 h
//! and 30 d, and its latency over the last hour. Reads only its own signals.

use super::{Sparkline, UptimeWindow, latency_label};
use crate::clock::utc_clock;
use crate::status::{PublicStatus, Trend};
use leptos::prelude::*;

/// Positions in `UPTIME_WINDOWS` the public page shows: 24 h and 30 d.
const WINDOWS: [usize; 2] = [1, 3];

#[component]
pub fn PublicCheck(status: RwSignal<PublicStatus>, trend: RwSignal<Trend>) -> impl IntoView {
    let id = status.with_untracked(|s| s.id.to_string());
    let health = move || status.with(|s| s.health.label());
    let maintenance = move || status.with(|s| s.maintenance_until_ms);
    // Being worked on, as planned: said instead of the health it has now.
    let pill = move || match maintenance() {
        Some(_) => "maintenance",
        None => health(),
    };
    let detail = move || status.with(|s| s.detail.clone());
    let checked = move || match status.with(|s| s.checked_at_ms) {
        0 => "not checked yet".to_string(),
        at => format!("checked {}", utc_clock(at)),
    };
    let uptimes = WINDOWS
        .into_iter()
        .map(|window| view! { <UptimeWindow trend window/> })
        .collect_view();
    view! {
        <article
            class=move || format!("public-check {}", pill())
            data-check-id=id
            data-health=health
            data-maintenance=move || maintenance().is_some().then_some("true")
        >
            <div class="card-head">
                <h3>{move || status.with(|s| s.name.clone())}</h3>
                <span class="pill">{pill}</span>
            </div>
            {move || maintenance().map(|until| view! {
                <p class="maintenance">{format!("Maintenance until {}", utc_clock(until))}</p>
            })}
            {move || detail().map(|text| view! { <p class="detail">{text}</p> })}
            <div class="public-trend">
                <div class="uptime">{uptimes}</div>
                <Sparkline trend/>
            </div>
            <div class="card-foot">
                <span class="latency" title="how long the last check took">
                    {move || status.with(|s| latency_label(s.latency_ms))}
                </span>
                <span class="checked">{checked}</span>
            </div>
        </article>
    }
}
