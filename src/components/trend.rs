//! How a check has been, drawn on its card: uptime per window, a latency
//! sparkline for the last hour (inline SVG, no chart library), a strip of
//! the newest results coloured by health, and when the health last changed.
//! All from the card's trend signal, which each event extends. The public
//! status page draws its checks' uptime and sparkline with the same pieces.

use crate::clock::utc_clock;
use crate::live::ago;
use crate::status::{Health, RECENT, RecentResult, Trend, UPTIME_WINDOWS};
use leptos::prelude::*;

const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 24.0;
const HOUR_MS: f64 = 3_600_000.0;
/// A tick of the strip and the gap after it, in its viewBox units.
const TICK: u32 = 4;
const GAP: u32 = 2;
const STRIP_WIDTH: u32 = RECENT as u32 * (TICK + GAP) - GAP;
const STRIP_HEIGHT: u32 = 16;

#[component]
pub fn TrendView(trend: RwSignal<Trend>, now_ms: RwSignal<Option<u64>>) -> impl IntoView {
    let uptimes = (0..UPTIME_WINDOWS.len())
        .map(|window| view! { <UptimeWindow trend window/> })
        .collect_view();
    let changed = move || {
        let at = trend.with(|t| t.last_change_ms);
        match (at, now_ms.get()) {
            (None, _) => String::new(),
            (Some(at), Some(now)) => format!("since {}", ago(at, now)),
            (Some(at), None) => format!("since {}", utc_clock(at)),
        }
    };
    let strip = move || trend.with(|t| strip_ticks(&t.recent));
    let strip_label = move || trend.with(|t| strip_summary(&t.recent));
    let strip_count = move || trend.with(|t| t.recent.len());
    view! {
        <div class="trend">
            <Sparkline trend/>
            <svg
                class="strip"
                viewBox=format!("0 0 {STRIP_WIDTH} {STRIP_HEIGHT}")
                role="img"
                aria-label=strip_label
                data-results=strip_count
                inner_html=strip
            ></svg>
        </div>
        <div class="uptime">
            {uptimes}
            <span class="changed">{changed}</span>
        </div>
    }
}

/// Mean latency per minute over the last hour, as a line.
#[component]
pub fn Sparkline(trend: RwSignal<Trend>) -> impl IntoView {
    view! {
        <svg
            class="sparkline"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            preserveAspectRatio="none"
            role="img"
            aria-label="mean latency per minute, last hour"
        >
            <polyline points=move || trend.with(sparkline_points)></polyline>
        </svg>
    }
}

/// The uptime of one window of `UPTIME_WINDOWS` (by position), as
/// `99.95% 24h`.
#[component]
pub fn UptimeWindow(trend: RwSignal<Trend>, window: usize) -> impl IntoView {
    let share = move || trend.with(|t| percent(t.uptime()[window]));
    view! { <span class="window"><b>{share}</b>" " {UPTIME_WINDOWS[window].0}</span> }
}

/// `4.2 ms`, `130 ms`, `–` before the first run.
pub fn latency_label(latency_ms: Option<f64>) -> String {
    match latency_ms {
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) => format!("{ms:.0} ms"),
        None => "–".to_string(),
    }
}

/// The strip's ticks, drawn as one path per health rather than an element
/// per result: with thousands of cards, twenty nodes a card made the page
/// twice as slow to load and to filter. Only numbers and fixed class names
/// go into this markup, so it is safe as inner HTML.
fn strip_ticks(recent: &[RecentResult]) -> String {
    [Health::Up, Health::Degraded, Health::Down]
        .into_iter()
        .map(|health| {
            let ticks: String = recent
                .iter()
                .enumerate()
                .filter(|(_, r)| r.health == health)
                .map(|(i, _)| {
                    format!(
                        "M{} 0h{TICK}v{STRIP_HEIGHT}h-{TICK}z",
                        i as u32 * (TICK + GAP)
                    )
                })
                .collect();
            if ticks.is_empty() {
                String::new()
            } else {
                format!(r#"<path class="{}" d="{ticks}"/>"#, health.label())
            }
        })
        .collect()
}

/// "newest 20 results: 19 up, 1 down, last at 12:00:05 UTC".
fn strip_summary(recent: &[RecentResult]) -> String {
    let Some(last) = recent.last() else {
        return "no results yet".to_string();
    };
    let counts: Vec<String> = [Health::Up, Health::Degraded, Health::Down]
        .into_iter()
        .filter_map(|health| {
            let n = recent.iter().filter(|r| r.health == health).count();
            (n > 0).then(|| format!("{n} {}", health.label()))
        })
        .collect();
    format!(
        "newest {} results: {}, last at {}",
        recent.len(),
        counts.join(", "),
        utc_clock(last.at_ms)
    )
}

/// `99.95%`, `100%`, `–` without data.
pub fn percent(share: Option<f64>) -> String {
    match share {
        None => "–".to_string(),
        Some(s) if s >= 1.0 => "100%".to_string(),
        Some(s) if s >= 0.99 => format!("{:.2}%", s * 100.0),
        Some(s) => format!("{:.1}%", s * 100.0),
    }
}

/// The minute means as polyline points: time across (the hour up to the
/// newest minute), latency up (scaled to the hour's slowest minute).
fn sparkline_points(trend: &Trend) -> String {
    let points: Vec<(u64, f64)> = trend
        .minutes
        .iter()
        .filter_map(|p| p.latency_ms.map(|ms| (p.start_ms, ms)))
        .collect();
    let Some(&(newest, _)) = points.last() else {
        return String::new();
    };
    let slowest = points
        .iter()
        .map(|&(_, ms)| ms)
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let start = newest as f64 - HOUR_MS;
    points
        .iter()
        .map(|&(at, ms)| {
            let x = ((at as f64 - start) / HOUR_MS * WIDTH).clamp(0.0, WIDTH);
            let y = HEIGHT - 1.0 - ms / slowest * (HEIGHT - 2.0);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
