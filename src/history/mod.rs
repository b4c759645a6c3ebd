//! History: every check result kept in SQLite, so that "how has it been"
//! has an answer that survives restarts. `store` is the database; `writer`
//! feeds it from the hub in batches, on a thread of its own.

pub mod api;
mod store;
mod writer;

pub use store::{Change, Retention, Rollup, RowCounts, SPANS, Store, WRITE, side_connection};
pub use writer::{Writer, start};

#[cfg(test)]
mod tests;
