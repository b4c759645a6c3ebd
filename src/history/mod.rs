//! History: every check result kept, so that "how has it been" has an
//! answer that survives restarts. `backend` is what a history database
//! does; `sqlite` keeps it in a file (one node), `postgres` in a server
//! the replicas of a cluster share; `writer` feeds either from the hub in
//! batches, on a thread of its own; `api` reads it for pages and the API.

pub(crate) mod api;
mod backend;
mod postgres;
mod sqlite;
mod writer;

pub use backend::{Backend, Change, Error, ErrorKind, Result, Retention, Rollup, RowCounts, SPANS};
pub use postgres::PgStore;
pub use sqlite::{SqliteStore, WRITE, side_connection};
pub(crate) use writer::{start, watch};

#[cfg(test)]
mod tests;
