//! Pages, one per route.

mod check_detail;
mod dashboard;

pub use check_detail::{CheckDetail, check_detail};
pub use dashboard::{Dashboard, current_board};
