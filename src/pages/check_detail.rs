//! `/checks/{id}?range=24h`: one check's history. Server-rendered with the
//! data of the chosen range (the first HTML has the chart and the lists),
//! then hydrated; choosing another range navigates in the page and fetches
//! that range through the same server function.

use crate::status::{CheckHistory, CheckStatus, RANGES, utc_clock};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

const CHART_W: f64 = 600.0;
const CHART_H: f64 = 160.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetailData {
    pub id: String,
    pub status: Option<CheckStatus>,
    /// `None` when Pulse keeps no history (`--no-history`).
    pub history: Option<CheckHistory>,
}

#[server]
pub async fn check_detail(id: String, range: String) -> Result<DetailData, ServerFnError> {
    crate::access::web::require_private()?;
    let state = use_context::<crate::server::AppState>()
        .ok_or_else(|| ServerFnError::new("the hub is not available here"))?;
    let Some(range_ms) = crate::status::range_ms(&range) else {
        return Err(ServerFnError::new(format!("unknown range `{range}`")));
    };
    let status = state
        .hub
        .snapshot()
        .checks
        .into_iter()
        .find(|c| c.id.0 == id);
    let history = crate::history::api::check_history(&state.history, id.clone(), range, range_ms)
        .await
        .map_err(ServerFnError::new)?;
    Ok(DetailData {
        id,
        status,
        history,
    })
}

#[component]
pub fn CheckDetail() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let range = move || {
        query
            .read()
            .get("range")
            .unwrap_or_else(|| "24h".to_string())
    };
    let data = Resource::new(
        move || (id(), range()),
        |(id, range)| check_detail(id, range),
    );
    view! {
        <header class="top">
            <h1><a class="home" href="/"><span class="logo" aria-hidden="true">"◉"</span>" Pulse"</a></h1>
        </header>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => Either::Left(view! { <DetailView data range=range()/> }),
                    Err(error) => Either::Right(view! {
                        <p class="failure">"This history could not be loaded: " {error.to_string()}</p>
                    }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DetailView(data: DetailData, range: String) -> impl IntoView {
    let DetailData {
        id,
        status,
        history,
    } = data;
    let title = status
        .as_ref()
        .map_or_else(|| id.clone(), |s| s.name.clone());
    let ranges = RANGES
        .iter()
        .map(|(name, _)| {
            let current = (*name == range).then_some("page");
            // A plain link: the router still navigates in the page, and
            // `aria-current` marks the range, which `<A>` would set on every
            // link here (they share the path).
            view! { <a href=format!("/checks/{id}?range={name}") aria-current=current>{*name}</a> }
        })
        .collect_view();
    let now = status
        .as_ref()
        .map(|s| s.health.label())
        .unwrap_or("removed");
    let detail = status
        .map(|s| s.detail)
        .unwrap_or_else(|| "no longer in the configuration".into());
    view! {
        <section class="detail-page" data-check-id=id.clone()>
            <h2>{title}" " <span class=format!("pill {now}")>{now}</span></h2>
            <p class="detail">{detail}</p>
            <nav class="ranges" aria-label="range">{ranges}</nav>
            {match history {
                None => Either::Left(view! { <p class="quiet">"Pulse keeps no history (--no-history)."</p> }),
                Some(history) => Either::Right(view! { <HistoryView history/> }),
            }}
        </section>
    }
}

#[component]
fn HistoryView(history: CheckHistory) -> impl IntoView {
    let (avg, max, top) = chart_lines(&history);
    let first = history
        .points
        .first()
        .map(|p| utc_clock(p.start_ms))
        .unwrap_or_default();
    let last = history
        .points
        .last()
        .map(|p| utc_clock(p.start_ms))
        .unwrap_or_default();
    let per = if history.span_s == 60 {
        "minute"
    } else {
        "hour"
    };
    let changes = history
        .changes
        .iter()
        .rev()
        .map(|span| {
            let lasted = span.lasted_ms.map_or_else(
                || "until now".to_string(),
                |ms| format!("for {}", duration(ms)),
            );
            view! {
                <li class=format!("span {}", span.health.label())>
                    <b>{span.health.label()}</b>" at " {utc_clock(span.at_ms)} " " {lasted}
                    <span class="why">{span.detail.clone().unwrap_or_default()}</span>
                </li>
            }
        })
        .collect_view();
    let failures = history
        .failures
        .iter()
        .map(|f| view! { <li><b>{f.health.label()}</b>" at " {utc_clock(f.at_ms)} ": " {f.detail.clone()}</li> })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {CHART_W} {CHART_H}") preserveAspectRatio="none" role="img"
                aria-label=format!("latency per {per}: mean and slowest")>
                <polyline class="max" points=max></polyline>
                <polyline class="avg" points=avg></polyline>
            </svg>
            <figcaption>
                {format!("Latency per {per}, mean (dark) and slowest (light); top of the chart {top:.1} ms. ")}
                <span class="from">{first}</span>" – "<span class="to">{last}</span>
            </figcaption>
        </figure>
        <h3>"State changes"</h3>
        <ol class="spans">{changes}</ol>
        <h3>"Latest failures"</h3>
        {history.failures.is_empty().then(|| view! { <p class="quiet">"None in this range."</p> })}
        <ol class="failures">{failures}</ol>
    }
}

/// Polyline points for the mean and the slowest latency, and the scale top.
fn chart_lines(history: &CheckHistory) -> (String, String, f64) {
    let top = history
        .points
        .iter()
        .filter_map(|p| p.lat_max.or(p.lat_avg))
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let (Some(first), Some(last)) = (history.points.first(), history.points.last()) else {
        return (String::new(), String::new(), top);
    };
    let width = (last.start_ms - first.start_ms).max(1) as f64;
    let line = |pick: fn(&crate::status::ChartPoint) -> Option<f64>| {
        history
            .points
            .iter()
            .filter_map(|p| pick(p).map(|ms| (p.start_ms, ms)))
            .map(|(at, ms)| {
                let x = (at - first.start_ms) as f64 / width * CHART_W;
                let y = CHART_H - ms / top * (CHART_H - 4.0) - 2.0;
                format!("{x:.1},{y:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (line(|p| p.lat_avg), line(|p| p.lat_max), top)
}

/// `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`.
fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}
