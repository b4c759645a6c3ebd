//! One check's card. Every text reads the check's own signal, so an event
//! for this check updates these nodes in place and touches no other card.

use super::{TrendView, latency_label};
use crate::clock::utc_clock;
use crate::live::ago;
use crate::status::{AlertState, CheckId, CheckStatus, Trend};
use leptos::prelude::*;

#[component]
pub fn CheckCard(
    status: RwSignal<CheckStatus>,
    trend: RwSignal<Trend>,
    alert: RwSignal<AlertState>,
    /// The name of another check, for "held by" (given its id).
    name_of: Callback<CheckId, String>,
    now_ms: RwSignal<Option<u64>>,
    /// Filtered out by the viewer's search or "failing only".
    hidden: Signal<bool>,
) -> impl IntoView {
    let id = status.with_untracked(|s| s.id.to_string());
    // Every card's link reads "history"; a screen reader's list of links
    // names it after its check ("Disk / history"). Static ids (check ids
    // have no spaces), so no card pays for another reactive text.
    let name_id = format!("check-{id}");
    let more_id = format!("check-{id}-more");
    let more_label = format!("{name_id} {more_id}");
    let health = move || status.with(|s| s.health.label());
    let latency = move || status.with(|s| latency_label(s.latency_ms));
    let checked = move || {
        let at = status.with(|s| s.checked_at_ms);
        match (at, now_ms.get()) {
            (0, _) => "not yet".to_string(),
            (at, Some(now)) => ago(at, now),
            (at, None) => utc_clock(at),
        }
    };
    view! {
        <article
            class=move || format!("card {}", health())
            data-check-id=id
            data-health=health
            hidden=move || hidden.get()
        >
            <div class="card-head">
                <h3 id=name_id>{move || status.with(|s| s.name.clone())}</h3>
                <span class="pill">{health}</span>
            </div>
            <p class="detail">{move || status.with(|s| s.detail.clone())}</p>
            <p class="alert" data-alert=move || alert.with(AlertState::label)>
                {move || alert.with(|state| alert_text(state, name_of))}
            </p>
            <TrendView trend now_ms/>
            <div class="card-foot">
                <span class="kind">{move || status.with(|s| s.kind.label())}</span>
                <span class="latency" title="how long the check took">{latency}</span>
                <span class="checked" title="when the check ran">{checked}</span>
                <a class="more" id=more_id aria-labelledby=more_label href=format!("/checks/{id}")>
                    "history"
                </a>
            </div>
        </article>
    }
}

/// What a card says of its alert. Times in UTC, as the server renders them.
fn alert_text(state: &AlertState, name_of: Callback<CheckId, String>) -> String {
    match state {
        AlertState::Ok => "no alert".into(),
        AlertState::Pending { failing, threshold } => {
            format!("alert pending: {failing} of {threshold} failing")
        }
        AlertState::Held { by } => format!("alert held: {} is failing", name_of.run(by.clone())),
        AlertState::Firing { since_ms } => format!("alert firing since {}", utc_clock(*since_ms)),
        AlertState::Maintenance { until_ms } => {
            format!("maintenance until {}: no alerts", utc_clock(*until_ms))
        }
    }
}
