//! Pieces of the dashboard used by the pages.

mod change_feed;
mod check_card;
mod config_banner;
mod connection_badge;
mod signed_in;
mod summary_bar;
mod toolbar;
mod trend;

pub use change_feed::ChangeFeed;
pub use check_card::CheckCard;
pub use config_banner::ConfigBanner;
pub use connection_badge::ConnectionBadge;
pub use signed_in::SignedInAs;
pub use summary_bar::SummaryBar;
pub use toolbar::Toolbar;
pub use trend::TrendView;
