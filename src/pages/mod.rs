//! Pages, one per route.

mod dashboard;

pub use dashboard::{Dashboard, current_board};
