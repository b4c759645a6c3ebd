//! Pieces of the dashboard and the public status page.

mod change_feed;
mod check_card;
mod config_banner;
mod connection_badge;
mod incidents;
mod latency_chart;
mod public_check;
mod signed_in;
mod summary_bar;
mod toolbar;
mod trend;
mod uptime_days;

pub use change_feed::ChangeFeed;
pub use check_card::CheckCard;
pub use config_banner::ConfigBanner;
pub use connection_badge::ConnectionBadge;
pub use incidents::Incidents;
pub use latency_chart::LatencyChart;
pub use public_check::PublicCheck;
pub use signed_in::SignedInAs;
pub use summary_bar::SummaryBar;
pub use toolbar::Toolbar;
pub use trend::{Sparkline, TrendView, UptimeWindow, latency_label, percent};
pub use uptime_days::UptimeDays;
