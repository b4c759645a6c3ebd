//! Pages, one per route.

mod check_detail;
mod dashboard;
mod login;
mod notifications;
mod public_status;
#[cfg(feature = "ssr")]
mod viewer;

pub use check_detail::{CheckDetail, check_detail};
pub use dashboard::{Dashboard, current_board};
pub use login::Login;
pub use notifications::{Notifications, load_notifications, send_test_message};
pub use public_status::{PublicStatusPage, public_status_data};
