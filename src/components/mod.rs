//! Pieces of the dashboard used by the pages.

mod check_card;
mod connection_badge;
mod summary_bar;

pub use check_card::CheckCard;
pub use connection_badge::ConnectionBadge;
pub use summary_bar::SummaryBar;
