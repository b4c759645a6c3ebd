//! The incidents, newest first, each with its updates: on the dashboard
//! and on the public status page, live (the `incidents` event replaces the
//! list). Whoever may act also gets plain forms to open one and to post
//! updates: they post to `/api/incidents` and come back to the dashboard,
//! before or after the WASM has loaded.

use crate::clock::{utc_clock, utc_day};
use crate::status::{CheckId, Incident, IncidentStatus, IncidentsNotice};
use leptos::prelude::*;

#[component]
pub fn Incidents(
    incidents: RwSignal<IncidentsNotice>,
    /// A check's name, for the checks an incident names.
    name_of: Callback<CheckId, String>,
    /// Forms to open and update incidents (whoever may act).
    can_act: bool,
) -> impl IntoView {
    let empty = move || incidents.with(|n| n.incidents.is_empty());
    view! {
        <section
            class="incidents"
            id="incidents"
            aria-labelledby="incidents-title"
            hidden=move || empty() && !can_act
        >
            <h2 id="incidents-title">"Incidents"</h2>
            {can_act.then(|| view! { <OpenIncident/> })}
            <p class="empty" hidden=move || !empty()>"No incidents."</p>
            <ol class="incident-list">
                // Keyed by the incident and its updates: another incident's
                // change leaves this one's DOM, and a form being filled in,
                // alone.
                <For
                    each=move || incidents.with(|n| n.incidents.clone())
                    key=|incident| (incident.id, incident.earlier_updates as usize + incident.updates.len())
                    let:incident
                >
                    <IncidentItem incident name_of can_act/>
                </For>
            </ol>
        </section>
    }
}

#[component]
fn IncidentItem(
    incident: Incident,
    name_of: Callback<CheckId, String>,
    can_act: bool,
) -> impl IntoView {
    let status = incident.status();
    let affects = incident
        .checks
        .iter()
        .map(|id| name_of.run(id.clone()))
        .collect::<Vec<_>>()
        .join(", ");
    let opened = format!(
        "opened {} {}",
        utc_day(incident.opened_ms),
        utc_clock(incident.opened_ms)
    );
    let updates = incident
        .updates
        .iter()
        .rev()
        .map(|update| {
            let by = update.by.clone().map(|by| format!(" by {by}"));
            view! {
                <li class="incident-update" data-status=update.status.label()>
                    <span class="update-status">{update.status.label()}</span>
                    " "
                    <span class="update-at">{format!("{} {}", utc_day(update.at_ms), utc_clock(update.at_ms))}{by}</span>
                    <p class="update-message">{update.message.clone()}</p>
                </li>
            }
        })
        .collect_view();
    let can_update = can_act && status != IncidentStatus::Resolved;
    view! {
        <li class="incident" data-incident-id=incident.id data-status=status.label()>
            <h3>
                <span class="incident-title">{incident.title.clone()}</span>
                " "
                <span class=format!("pill {}", status.label())>{status.label()}</span>
            </h3>
            <p class="incident-meta">
                {opened}
                {(!affects.is_empty()).then(|| format!(" · affects {affects}"))}
            </p>
            <ol class="incident-updates">{updates}</ol>
            {(incident.earlier_updates > 0).then(|| view! {
                <p class="incident-earlier">{format!("and {} earlier updates", incident.earlier_updates)}</p>
            })}
            {can_update.then(|| view! { <UpdateIncident id=incident.id/> })}
        </li>
    }
}

/// The status options, `selected` first chosen.
fn status_options(selected: IncidentStatus) -> impl IntoView {
    IncidentStatus::ALL
        .into_iter()
        .map(|s| view! { <option value=s.label() selected=s == selected>{s.label()}</option> })
        .collect_view()
}

#[component]
fn OpenIncident() -> impl IntoView {
    view! {
        <details class="open-incident">
            <summary>"Open an incident"</summary>
            <form class="incident-form" method="post" action="/api/incidents">
                <label>"Title" <input name="title" required maxlength="200"/></label>
                <label>"Status" <select name="status">{status_options(IncidentStatus::Investigating)}</select></label>
                <label>"What is known" <textarea name="message" required maxlength="2000" rows="3"></textarea></label>
                <label>"Checks it concerns (names, separated by commas)" <input name="checks"/></label>
                <button type="submit">"Open the incident"</button>
            </form>
        </details>
    }
}

#[component]
fn UpdateIncident(id: i64) -> impl IntoView {
    view! {
        <details class="update-incident">
            <summary>"Post an update"</summary>
            <form class="incident-form" method="post" action=format!("/api/incidents/{id}/updates")>
                <label>"Status" <select name="status">{status_options(IncidentStatus::Identified)}</select></label>
                <label>"Update" <textarea name="message" required maxlength="2000" rows="3"></textarea></label>
                <button type="submit">"Post the update"</button>
            </form>
        </details>
    }
}
