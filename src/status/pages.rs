//! What each page is rendered with: the data its server function gives
//! it, beside the live statuses (`super`), and the ranges a detail page
//! offers.

use super::{CheckId, Health, PublicSnapshot, Snapshot, Trend};
use serde::{Deserialize, Serialize};

/// What the public status page is rendered with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PublicBoardData {
    pub snapshot: PublicSnapshot,
    /// Each public check's uptime and latency, from the history.
    pub trends: std::collections::HashMap<CheckId, Trend>,
}

/// What the dashboard is rendered with: every current status, and how each
/// check has been.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BoardData {
    pub snapshot: Snapshot,
    pub trends: std::collections::HashMap<CheckId, Trend>,
    /// The newest changes of health across all checks, newest first.
    pub feed: Vec<FeedItem>,
    /// Who is looking, when someone signed in.
    #[serde(default)]
    pub signed_in: Option<SignedIn>,
    /// The viewer may act: open and update incidents.
    #[serde(default)]
    pub can_act: bool,
}

/// The person (or token) a page is rendered for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub name: String,
    /// Signed in here with a password; someone named by a proxy in front
    /// signs out there, and a token has nothing to sign out of.
    pub can_sign_out: bool,
}

/// One line of the state-change feed: a check went down, recovered, …
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedItem {
    pub id: CheckId,
    pub name: String,
    pub at_ms: u64,
    pub from: Health,
    pub to: Health,
    pub detail: String,
}

impl FeedItem {
    /// "went down", "recovered", "is degraded".
    pub fn verb(&self) -> &'static str {
        match (self.from, self.to) {
            (_, Health::Down) => "went down",
            (Health::Down | Health::Degraded, Health::Up) => "recovered",
            (_, Health::Degraded) => "is degraded",
            (_, Health::Up) => "is up",
            (_, Health::Unknown) => "is unknown",
        }
    }
}

/// The ranges a detail page offers, with their length in milliseconds.
pub const RANGES: [(&str, u64); 5] = [
    ("1h", 3_600_000),
    ("24h", 86_400_000),
    ("7d", 604_800_000),
    ("30d", 2_592_000_000),
    ("90d", 7_776_000_000),
];

/// Lines kept in the feed.
pub const FEED: usize = 20;

/// The length of a named range (`"24h"`), if it is one of `RANGES`.
pub fn range_ms(name: &str) -> Option<u64> {
    RANGES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, ms)| *ms)
}

/// Where the page finds the browser bundle: the paths of its CSS, its JS
/// glue and its WASM. The server decides (`site::Site`): in a release build
/// the content-hashed names built into the binary.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub css: String,
    pub js: String,
    pub wasm: String,
}
