//! Incidents: what the people running the checks tell everyone about an
//! outage. Whoever may act opens one (a title, a first update, the checks
//! it concerns) and posts updates (investigating, identified, monitoring,
//! resolved). Kept in the history database, so they survive restarts, and
//! told to the hub whole on every change, which shows them live on the
//! dashboard and the public status page.
//!
//! Every write is validated here, in one place, whichever way it came (the
//! API, the dashboard's forms): the API only parses.

pub mod api;
mod store;

use crate::hub::Hub;
use crate::status::{CheckId, Incident, IncidentStatus, IncidentsNotice};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest update, in characters.
pub const MAX_MESSAGE: usize = 4000;
/// Most checks one incident names.
pub const MAX_CHECKS: usize = 50;
/// Most incidents open at once, and updates of one incident: a bound on
/// what a careless script can make every page carry.
pub const MAX_OPEN: usize = 50;
pub const MAX_UPDATES: usize = 200;
/// Resolved incidents stay on the pages this long.
pub const SHOWN_AFTER_RESOLVED: Duration = Duration::from_secs(7 * 86_400);

/// Why a write was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Invalid(String),
    NotFound(i64),
    TooMany(String),
    /// The database failed; nothing was changed.
    Failed(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Invalid(why) | Refused::TooMany(why) => f.write_str(why),
            Refused::NotFound(id) => write!(f, "there is no incident {id}"),
            Refused::Failed(why) => write!(f, "the incident could not be kept: {why}"),
        }
    }
}

/// A new incident, as asked for.
#[derive(Clone, Debug)]
pub struct Opening {
    pub title: String,
    pub status: IncidentStatus,
    pub message: String,
    pub checks: Vec<CheckId>,
}

pub struct Incidents {
    conn: Mutex<Connection>,
    hub: Arc<Hub>,
}

impl Incidents {
    /// Over a connection with the schema in place
    /// (`history::side_connection`); tells the hub what to show, and again
    /// every hour so that old resolved incidents leave the pages.
    pub fn start(
        conn: Connection,
        hub: Arc<Hub>,
        shutdown: crate::shutdown::Shutdown,
    ) -> Result<Arc<Incidents>, String> {
        let incidents = Arc::new(Incidents {
            conn: Mutex::new(conn),
            hub,
        });
        incidents.tell().map_err(|e| format!("incidents: {e}"))?;
        let ticking = incidents.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            while shutdown.tick(&mut hourly).await {
                let told = ticking.clone();
                let _ = tokio::task::spawn_blocking(move || told.tell()).await;
            }
        });
        Ok(incidents)
    }

    /// Opens an incident. Blocking (SQLite).
    pub fn open(&self, opening: Opening, by: &str, now_ms: u64) -> Result<Incident, Refused> {
        let title = one_line("title", &opening.title, MAX_TITLE)?;
        let message = text("message", &opening.message, MAX_MESSAGE)?;
        if opening.checks.len() > MAX_CHECKS {
            return Err(Refused::Invalid(format!(
                "an incident names at most {MAX_CHECKS} checks"
            )));
        }
        let mut checks = opening.checks;
        checks.dedup();
        let conn = self.conn();
        if store::open_count(&conn).map_err(failed)? >= MAX_OPEN {
            return Err(Refused::TooMany(format!(
                "{MAX_OPEN} incidents are open already; resolve one first"
            )));
        }
        let id = store::insert(&conn, &title, &checks, opening.status, &message, by, now_ms)
            .map_err(failed)?;
        let incident = store::read(&conn, id).map_err(failed)?;
        drop(conn);
        self.tell_or_log();
        incident.ok_or(Refused::NotFound(id))
    }

    /// Adds an update to incident `id`. Blocking (SQLite).
    pub fn update(
        &self,
        id: i64,
        status: IncidentStatus,
        message: &str,
        by: &str,
        now_ms: u64,
    ) -> Result<Incident, Refused> {
        let message = text("message", message, MAX_MESSAGE)?;
        let conn = self.conn();
        let incident = store::read(&conn, id)
            .map_err(failed)?
            .ok_or(Refused::NotFound(id))?;
        if incident.updates.len() >= MAX_UPDATES {
            return Err(Refused::TooMany(format!(
                "incident {id} has {MAX_UPDATES} updates already; open a new one"
            )));
        }
        store::add_update(&conn, id, status, &message, by, now_ms).map_err(failed)?;
        let incident = store::read(&conn, id).map_err(failed)?;
        drop(conn);
        self.tell_or_log();
        incident.ok_or(Refused::NotFound(id))
    }

    /// What the pages show: open incidents and those resolved lately,
    /// newest first. Blocking (SQLite).
    pub fn shown(&self, now_ms: u64) -> Result<Vec<Incident>, String> {
        let since = now_ms.saturating_sub(SHOWN_AFTER_RESOLVED.as_millis() as u64);
        store::shown(&self.conn(), since).map_err(|e| e.to_string())
    }

    fn tell(&self) -> Result<(), String> {
        let incidents = self.shown(crate::checks::unix_millis())?;
        self.hub.set_incidents(IncidentsNotice { incidents });
        Ok(())
    }

    /// After a write that was kept: the pages learn of it. Should the read
    /// fail, the write stands and the next change or the hourly tell
    /// shows it.
    fn tell_or_log(&self) {
        if let Err(error) = self.tell() {
            tracing::warn!(%error, "incidents kept but not shown yet");
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn failed(error: rusqlite::Error) -> Refused {
    Refused::Failed(error.to_string())
}

/// A text without control characters (newlines aside), trimmed, not
/// empty, and at most `max` characters.
fn text(what: &str, value: &str, max: usize) -> Result<String, Refused> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Refused::Invalid(format!("the {what} is empty")));
    }
    if value.chars().count() > max {
        return Err(Refused::Invalid(format!(
            "the {what} is longer than {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Refused::Invalid(format!(
            "the {what} has control characters"
        )));
    }
    Ok(value.replace("\r\n", "\n"))
}

fn one_line(what: &str, value: &str, max: usize) -> Result<String, Refused> {
    let value = text(what, value, max)?;
    match value.contains('\n') {
        true => Err(Refused::Invalid(format!("the {what} is one line"))),
        false => Ok(value),
    }
}
