//! The last 90 days, one bar per UTC day coloured by its uptime, as public
//! status pages show it; each day's figures are in its text for screen
//! readers and in its tooltip for the pointer.

use crate::clock::utc_day;
use crate::components::percent;
use crate::status::{CheckHistory, DAY_MS, DAYS, DayCount};
use leptos::prelude::*;

#[component]
pub fn UptimeDays(history: Signal<CheckHistory>) -> impl IntoView {
    let days = move || history.with(|h| days_until(h.until_ms, &h.days));
    let overall = move || {
        history.with(|h| {
            let (results, down) = h
                .days
                .iter()
                .fold((0, 0), |(n, d), day| (n + day.results, d + day.failures));
            percent(share_up(results, down))
        })
    };
    view! {
        <section class="uptime-days" aria-labelledby="uptime-days-title">
            <h3 id="uptime-days-title">"Uptime, last 90 days: " <span class="days-overall">{overall}</span></h3>
            <ol class="days">
                {move || {
                    days()
                        .into_iter()
                        .map(|(start_ms, day)| {
                            let text = day_text(start_ms, day);
                            let tooltip = text.clone();
                            view! {
                                <li class=format!("day {}", grade(day)) title=tooltip>
                                    <span class="sr-only">{text}</span>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ol>
            <p class="days-scale" aria-hidden="true"><span>"90 days ago"</span><span>"today"</span></p>
        </section>
    }
}

/// Each of the `DAYS` days up to the one holding `until_ms`, with its
/// counts if it had results.
fn days_until(until_ms: u64, counted: &[DayCount]) -> Vec<(u64, Option<DayCount>)> {
    let today = until_ms / DAY_MS * DAY_MS;
    (0..DAYS)
        .rev()
        .map(|back| today.saturating_sub(back * DAY_MS))
        .map(|start| (start, counted.iter().find(|d| d.start_ms == start).copied()))
        .collect()
}

fn share_up(results: u64, down: u64) -> Option<f64> {
    (results > 0).then(|| 1.0 - down as f64 / results as f64)
}

/// The colour class of a day.
fn grade(day: Option<DayCount>) -> &'static str {
    match day.and_then(|d| share_up(d.results, d.failures)) {
        None => "none",
        Some(share) if share >= 0.999 => "good",
        Some(share) if share >= 0.99 => "fair",
        Some(_) => "poor",
    }
}

fn day_text(start_ms: u64, day: Option<DayCount>) -> String {
    match day {
        None => format!("{}: no results", utc_day(start_ms)),
        Some(d) => format!(
            "{}: {} up ({} results, {} down)",
            utc_day(start_ms),
            percent(share_up(d.results, d.failures)),
            d.results,
            d.failures
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninety_days_end_today_and_grade_each() {
        let today = 20_000 * DAY_MS;
        let counted = [
            DayCount {
                start_ms: today,
                results: 1000,
                failures: 0,
            },
            DayCount {
                start_ms: today - DAY_MS,
                results: 1000,
                failures: 5,
            },
            DayCount {
                start_ms: today - 89 * DAY_MS,
                results: 10,
                failures: 5,
            },
        ];
        let days = days_until(today + 5_000, &counted);
        assert_eq!(days.len(), 90);
        let grades: Vec<_> = days.iter().map(|(_, d)| grade(*d)).collect();
        assert_eq!(grades[89], "good");
        assert_eq!(grades[88], "fair");
        assert_eq!(grades[0], "poor");
        assert_eq!(grades[1], "none");
        assert!(day_text(days[88].0, days[88].1).ends_with("99.50% up (1000 results, 5 down)"));
    }
}
