//! A check's latency over a range, as a chart a person can read: time and
//! latency axes with labels, the mean and slowest lines broken where there
//! were no results, failures marked along the bottom, and the value under
//! the pointer (or the keyboard's point) in a tooltip that a screen reader
//! announces. Server-rendered, then live.

use crate::clock::{utc_clock, utc_day};
use crate::components::latency_label;
use crate::status::{ChartPoint, CheckHistory, DAY_MS};
use leptos::prelude::*;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;

#[component]
pub fn LatencyChart(history: Signal<CheckHistory>, range_ms: u64) -> impl IntoView {
    let frame = Memo::new(move |_| history.with(|h| Frame::of(h, range_ms)));
    let selected = RwSignal::new(None::<usize>);
    let point = move |i: usize| history.with(|h| h.points.get(i).cloned());
    let count = move || history.with(|h| h.points.len());

    // The chart's parts take no pointer events (see the style), so the
    // pointer's offset is always from the chart's own left edge.
    let pick_under_pointer = move |offset_x: f64, width: f64| {
        if width <= 0.0 {
            return;
        }
        let x = offset_x / width * W;
        let at = frame.with_untracked(|f| f.time_at(x));
        selected.set(history.with_untracked(|h| nearest(&h.points, at, h.span_s * 1000)));
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let last = count().checked_sub(1);
        let now = selected.get_untracked().or(last);
        let next = match ev.key().as_str() {
            "ArrowLeft" => now.map(|i| i.saturating_sub(1)),
            "ArrowRight" => now.map(|i| (i + 1).min(last.unwrap_or(0))),
            "Home" => last.map(|_| 0),
            "End" => last,
            "Escape" => None,
            _ => return,
        };
        ev.prevent_default();
        selected.set(next);
    };

    let tip = move || {
        let Some(i) = selected.get() else {
            return "Point at the chart, or focus it and use the arrow keys, to read a value."
                .to_string();
        };
        let span_s = history.with(|h| h.span_s);
        point(i).map_or_else(String::new, |p| describe(&p, span_s))
    };
    // Where the chosen point is across the chart, 0–100 %.
    let tip_at = move || {
        let x = selected
            .get()
            .and_then(point)
            .map_or(W / 2.0, |p| frame.with(|f| f.x_of(&p)));
        x / W * 100.0
    };
    // The tip starts at the point and grows away from the nearer edge, so it
    // stays inside the chart. Set through the CSSOM (`style:`), which the
    // page's CSP allows; it would refuse a `style` attribute.
    let tip_left = move || format!("{:.1}%", tip_at());
    let tip_flipped = move || tip_at() > 50.0;
    let cursor = move || {
        let p = selected.get().and_then(point)?;
        let (x, y) = frame.with(|f| (f.x_of(&p), p.lat_avg.map(|ms| f.y_of(ms))));
        Some(view! {
            <line class="cursor" x1=x x2=x y1=TOP y2=H - BOTTOM></line>
            {y.map(|y| view! { <circle class="cursor" cx=x cy=y r="3.5"></circle> })}
        })
    };

    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {W} {H}")
                role="img"
                tabindex="0"
                aria-label=move || history.with(|h| summary(h, range_ms))
                aria-describedby="chart-tip"
                on:pointermove=move |ev: leptos::ev::PointerEvent| {
                    use wasm_bindgen::JsCast;
                    let width = ev
                        .current_target()
                        .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
                        .map_or(0, |svg| svg.client_width());
                    pick_under_pointer(f64::from(ev.offset_x()), f64::from(width));
                }
                on:pointerleave=move |_| selected.set(None)
                on:focus=move |_| selected.set(count().checked_sub(1))
                on:blur=move |_| selected.set(None)
                on:keydown=on_key
            >
                {move || frame.with(|f| f.axes())}
                <path class="max" d=move || frame.with(|f| history.with(|h| line(h, f, |p| p.lat_max)))></path>
                <path class="avg" d=move || frame.with(|f| history.with(|h| line(h, f, |p| p.lat_avg)))></path>
                <path class="failed" d=move || frame.with(|f| history.with(|h| failure_marks(h, f)))></path>
                {cursor}
            </svg>
            <p id="chart-tip" class="tip" role="status" aria-live="polite"
                class:shown=move || selected.get().is_some() class:flip=tip_flipped style:left=tip_left>
                {tip}
            </p>
            <figcaption>{move || history.with(|h| summary(h, range_ms))}</figcaption>
        </figure>
    }
}

/// What the chart spans: from `range_ms` before the newest result (or the
/// moment it was read) to it, and from 0 to a round latency above the slowest.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Frame {
    from_ms: u64,
    to_ms: u64,
    span_ms: u64,
    top_ms: f64,
}

impl Frame {
    fn of(history: &CheckHistory, range_ms: u64) -> Frame {
        let slowest = history
            .points
            .iter()
            .filter_map(|p| p.lat_max.or(p.lat_avg))
            .fold(0.0_f64, f64::max);
        Frame {
            from_ms: history.until_ms.saturating_sub(range_ms),
            to_ms: history.until_ms.max(1),
            span_ms: history.span_s.max(1) * 1000,
            top_ms: round_up(slowest),
        }
    }

    fn x_at(&self, at_ms: u64) -> f64 {
        let width = (self.to_ms - self.from_ms).max(1) as f64;
        let share = (at_ms.saturating_sub(self.from_ms)) as f64 / width;
        LEFT + share.min(1.0) * (W - LEFT - RIGHT)
    }

    /// A point sits at the middle of its span.
    fn x_of(&self, point: &ChartPoint) -> f64 {
        self.x_at(point.start_ms + self.span_ms / 2)
    }

    fn y_of(&self, latency_ms: f64) -> f64 {
        H - BOTTOM - (latency_ms / self.top_ms).min(1.0) * (H - TOP - BOTTOM)
    }

    fn time_at(&self, x: f64) -> u64 {
        let share = ((x - LEFT) / (W - LEFT - RIGHT)).clamp(0.0, 1.0);
        self.from_ms + (share * (self.to_ms - self.from_ms) as f64) as u64
    }

    /// Grid lines with their labels: latency up the left, time along the bottom.
    fn axes(&self) -> impl IntoView + use<> {
        let step = latency_step(self.top_ms);
        let decimals = decimals_for(step);
        let rows = (0..)
            .map(|n| n as f64 * step)
            .take_while(|v| *v <= self.top_ms * 1.0001)
            .map(|ms| {
                let y = tenths(self.y_of(ms));
                let label = if ms == 0.0 {
                    "0 ms".to_string()
                } else {
                    format!("{ms:.decimals$} ms")
                };
                view! {
                    <line class="grid" x1=LEFT x2=W - RIGHT y1=y y2=y></line>
                    <text class="tick" x=LEFT - 6.0 y=y + 4.0 text-anchor="end">{label}</text>
                }
            })
            .collect_view();
        let columns = time_ticks(self.from_ms, self.to_ms)
            .into_iter()
            .map(|(at, label)| {
                let x = tenths(self.x_at(at));
                view! {
                    <line class="grid" x1=x x2=x y1=TOP y2=H - BOTTOM></line>
                    <text class="tick" x=x y=H - 8.0 text-anchor="middle">{label}</text>
                }
            })
            .collect_view();
        view! {
            <g class="axes" aria-hidden="true">
                {rows}
                {columns}
                <line class="axis" x1=LEFT x2=W - RIGHT y1=H - BOTTOM y2=H - BOTTOM></line>
            </g>
        }
    }
}

/// Coordinates to a tenth of a unit: finer is invisible and only lengthens the page.
fn tenths(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `ms` (1 ms with no data).
fn round_up(ms: f64) -> f64 {
    if ms.is_nan() || ms <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(ms.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|top| *top >= ms * 0.999_999)
        .unwrap_or(10.0 * power)
}

/// Four or five grid rows up to a `round_up` top.
fn latency_step(top_ms: f64) -> f64 {
    let power = 10f64.powf(top_ms.log10().floor());
    let leading = (top_ms / power * 10.0).round() / 10.0;
    let step = if leading == 2.0 { 0.5 } else { 0.2 * leading };
    step * power
}

/// Enough decimals to tell the grid rows apart (0.02 → 2, 0.5 → 1, 50 → 0).
fn decimals_for(step: f64) -> usize {
    (-step.log10() - 1e-9).ceil().max(0.0) as usize
}

/// Round moments across the range, at most six, with their labels.
fn time_ticks(from_ms: u64, to_ms: u64) -> Vec<(u64, String)> {
    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;
    const STEPS: [u64; 14] = [
        MINUTE,
        5 * MINUTE,
        10 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY_MS,
        2 * DAY_MS,
        7 * DAY_MS,
        14 * DAY_MS,
    ];
    let length = to_ms.saturating_sub(from_ms);
    let step = STEPS
        .into_iter()
        .find(|step| length / step <= 6)
        .unwrap_or(30 * DAY_MS);
    let first = from_ms.div_ceil(step) * step;
    (first..=to_ms)
        .step_by(step as usize)
        .map(|at| {
            let label = if step < DAY_MS {
                utc_clock(at)[..5].to_string()
            } else {
                utc_day(at)
            };
            (at, label)
        })
        .collect()
}

/// An SVG path through one value of each point, lifted where results are
/// missing: across a gap wider than the usual spacing, or a point without
/// the value. A point alone is drawn as a dot.
fn line(history: &CheckHistory, frame: &Frame, pick: fn(&ChartPoint) -> Option<f64>) -> String {
    let gap = usual_spacing(&history.points).max(frame.span_ms) * 5 / 2;
    let mut path = String::new();
    let mut previous: Option<u64> = None;
    let mut run = 0;
    for point in &history.points {
        let Some(ms) = pick(point) else {
            previous = None;
            continue;
        };
        let joined = previous.is_some_and(|at| point.start_ms - at <= gap);
        if !joined && run == 1 {
            path.push_str("h0.01");
        }
        run = if joined { run + 1 } else { 1 };
        let verb = if joined { 'L' } else { 'M' };
        path.push_str(&format!(
            "{verb}{:.1} {:.1}",
            frame.x_of(point),
            frame.y_of(ms)
        ));
        previous = Some(point.start_ms);
    }
    if run == 1 {
        path.push_str("h0.01");
    }
    path
}

/// The median distance between neighbouring points: the check's interval,
/// or the span when it runs more often.
fn usual_spacing(points: &[ChartPoint]) -> u64 {
    let mut gaps: Vec<u64> = points
        .windows(2)
        .map(|pair| pair[1].start_ms - pair[0].start_ms)
        .collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied().unwrap_or(0)
}

/// A short red mark along the bottom under each point with a failure.
fn failure_marks(history: &CheckHistory, frame: &Frame) -> String {
    history
        .points
        .iter()
        .filter(|p| p.failures > 0)
        .map(|p| format!("M{:.1} {:.1}v-8", frame.x_of(p), H - BOTTOM))
        .collect()
}

/// The point nearest `at_ms`, if one is within a span of it.
fn nearest(points: &[ChartPoint], at_ms: u64, span_ms: u64) -> Option<usize> {
    let middle = |p: &ChartPoint| p.start_ms + span_ms / 2;
    let after = points.partition_point(|p| middle(p) < at_ms);
    [after.checked_sub(1), Some(after)]
        .into_iter()
        .flatten()
        .filter(|&i| i < points.len())
        .min_by_key(|&i| middle(&points[i]).abs_diff(at_ms))
        .filter(|&i| middle(&points[i]).abs_diff(at_ms) <= span_ms)
}

/// One point in words: `14:05 UTC: mean 0.1 ms, slowest 0.3 ms, 6 results, 1 down`.
fn describe(point: &ChartPoint, span_s: u64) -> String {
    let when = if span_s >= 3600 {
        format!(
            "{} {}",
            utc_day(point.start_ms),
            &utc_clock(point.start_ms)[..5]
        )
    } else {
        utc_clock(point.start_ms)[..5].to_string()
    };
    let results = if point.count == 1 {
        "result"
    } else {
        "results"
    };
    let down = if point.failures > 0 {
        format!(", {} down", point.failures)
    } else {
        String::new()
    };
    format!(
        "{when} UTC: mean {}, slowest {}, {} {results}{down}",
        latency_label(point.lat_avg),
        latency_label(point.lat_max),
        point.count
    )
}

/// The whole range in words, for the caption and for screen readers.
fn summary(history: &CheckHistory, range_ms: u64) -> String {
    let per = if history.span_s >= 3600 {
        "hour"
    } else {
        "minute"
    };
    let range = crate::status::RANGES
        .iter()
        .find(|(_, ms)| *ms == range_ms)
        .map_or("this range", |(name, _)| name);
    let (results, down, weighted) = history.points.iter().fold((0, 0, 0.0), |(n, d, sum), p| {
        let with = p.lat_avg.map_or(0.0, |ms| ms * p.count as f64);
        (n + p.count, d + p.failures, sum + with)
    });
    if results == 0 {
        return format!("Latency per {per} over {range}: no results yet.");
    }
    let timed: u64 = history
        .points
        .iter()
        .filter(|p| p.lat_avg.is_some())
        .map(|p| p.count)
        .sum();
    let mean = (timed > 0).then(|| weighted / timed as f64);
    let slowest = history
        .points
        .iter()
        .filter_map(|p| p.lat_max.map(|ms| (ms, p.start_ms)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let slowest = slowest.map_or_else(
        || "–".to_string(),
        |(ms, at)| {
            let when = if history.span_s >= 3600 {
                utc_day(at)
            } else {
                utc_clock(at)[..5].to_string()
            };
            format!("{} (at {when} UTC)", latency_label(Some(ms)))
        },
    );
    format!(
        "Latency per {per} over {range}: mean {}, slowest {slowest}; {results} results, {down} down. Dark line: mean; light line: slowest; red marks: failures; breaks: no results.",
        latency_label(mean)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(start_ms: u64, avg: f64) -> ChartPoint {
        ChartPoint {
            start_ms,
            count: 6,
            failures: 0,
            lat_avg: Some(avg),
            lat_max: Some(avg * 2.0),
        }
    }

    #[test]
    fn the_latency_axis_ends_on_a_round_number() {
        assert_eq!(round_up(0.13), 0.2);
        assert_eq!(round_up(0.1), 0.1);
        assert_eq!(round_up(183.0), 200.0);
        assert_eq!(round_up(2.1), 2.5);
        assert_eq!(round_up(0.0), 1.0);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(latency_step(200.0), 50.0));
        assert!(close(latency_step(2.5), 0.5));
        assert!(close(latency_step(0.1), 0.02));
        assert!(close(latency_step(5.0), 1.0));
        assert_eq!(decimals_for(0.02), 2);
        assert_eq!(decimals_for(0.1), 1);
        assert_eq!(decimals_for(0.5), 1);
        assert_eq!(decimals_for(50.0), 0);
    }

    #[test]
    fn time_ticks_fall_on_round_moments() {
        let hour = 3_600_000;
        let from = 1_795_957_509_000; // 13:05:09 UTC
        let ticks = time_ticks(from, from + hour);
        let labels: Vec<&str> = ticks.iter().map(|(_, label)| label.as_str()).collect();
        assert_eq!(
            labels,
            ["13:10", "13:20", "13:30", "13:40", "13:50", "14:00"]
        );
        let days = time_ticks(from, from + 90 * DAY_MS);
        assert!(days.len() <= 7 && days[0].1.contains(' '), "{days:?}");
    }

    #[test]
    fn the_line_breaks_where_results_are_missing() {
        let history = CheckHistory {
            span_s: 60,
            until_ms: 20 * 60_000,
            points: vec![
                point(0, 1.0),
                point(60_000, 1.0),
                point(120_000, 1.0),
                // Ten minutes without results.
                point(720_000, 1.0),
                point(780_000, 1.0),
            ],
            ..CheckHistory::default()
        };
        let d = line(&history, &Frame::of(&history, 3_600_000), |p| p.lat_avg);
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 3, "{d}");
    }

    #[test]
    fn the_pointer_reads_the_nearest_point_within_a_span() {
        let points = vec![point(0, 1.0), point(60_000, 2.0), point(600_000, 3.0)];
        assert_eq!(nearest(&points, 70_000, 60_000), Some(1));
        assert_eq!(nearest(&points, 10_000, 60_000), Some(0));
        assert_eq!(
            nearest(&points, 300_000, 60_000),
            None,
            "a gap reads as no data"
        );
        assert_eq!(nearest(&points, 650_000, 60_000), Some(2));
    }

    #[test]
    fn a_point_in_words() {
        let mut p = point(1_795_957_500_000, 0.12);
        p.failures = 1;
        assert_eq!(
            describe(&p, 60),
            "13:05 UTC: mean 0.1 ms, slowest 0.2 ms, 6 results, 1 down"
        );
    }
}
