//! Incidents: what the people running the checks tell everyone about an
//! outage. Whoever may act opens one (a title, a first update, the checks
//! it concerns) and posts updates (investigating, identified, monitoring,
//! resolved). Kept in the history database (`sqlite`, or a cluster's
//! `postgres`), so they survive restarts, and told to the hub whole on
//! every change, which shows them live on the dashboard and the public
//! status page.
//!
//! Every write is validated here, in one place, whichever way it came (the
//! API, the dashboard's forms, any replica): the API only parses, and the
//! stores only read the counts the rules need and write what they allow.

pub(crate) mod api;
mod postgres;
mod sqlite;

use crate::hub::Hub;
use crate::status::{CheckId, Incident, IncidentStatus, IncidentUpdate, IncidentsNotice};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest title, in characters.
pub(crate) const MAX_TITLE: usize = 200;
/// Longest update, in characters.
pub(crate) const MAX_MESSAGE: usize = 2000;
/// Most checks one incident names.
pub(crate) const MAX_CHECKS: usize = 50;
/// Most incidents open at once (reopened ones count), and updates of one
/// incident.
pub(crate) const MAX_OPEN: usize = 20;
pub(crate) const MAX_UPDATES: usize = 100;
/// Resolved incidents stay on the pages this long, the newest few of them.
pub(crate) const SHOWN_AFTER_RESOLVED: Duration = Duration::from_secs(7 * 86_400);
pub(crate) const SHOWN_RESOLVED: usize = 5;
/// The updates of each incident the pages carry, newest first. With the
/// bounds above, the whole list every page and every `incidents` event
/// carries stays under about 250 KB, whoever writes.
pub(crate) const SHOWN_UPDATES: usize = 5;
/// Writes in any minute, from everyone together (on every replica): a
/// script in a loop cannot fill the event ring with incident lists.
pub(crate) const WRITES_PER_MINUTE: usize = 10;

/// Why a write was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IncidentError {
    Invalid(String),
    NotFound(i64),
    TooMany(String),
    /// Over `WRITES_PER_MINUTE`.
    TooSoon,
    /// The database failed; nothing was changed.
    Failed(String),
    /// The database failed a read.
    Unreadable(String),
}

impl std::fmt::Display for IncidentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IncidentError::Invalid(why) | IncidentError::TooMany(why) => f.write_str(why),
            IncidentError::NotFound(id) => write!(f, "there is no incident {id}"),
            IncidentError::TooSoon => write!(
                f,
                "at most {WRITES_PER_MINUTE} incident changes a minute; try again shortly"
            ),
            IncidentError::Failed(why) => write!(f, "the incident could not be kept: {why}"),
            IncidentError::Unreadable(why) => write!(f, "the incidents could not be read: {why}"),
        }
    }
}

/// A new incident, as asked for.
#[derive(Clone, Debug)]
pub(crate) struct Opening {
    pub(crate) title: String,
    pub(crate) status: IncidentStatus,
    pub(crate) message: String,
    pub(crate) checks: Vec<CheckId>,
}

/// One write, its texts validated: a new incident (`incident: None`) and
/// its first update, or an update of incident `incident`.
pub(crate) struct Write<'a> {
    incident: Option<i64>,
    title: &'a str,
    checks: &'a [CheckId],
    status: IncidentStatus,
    message: &'a str,
    by: &'a str,
    now_ms: u64,
}

impl Write<'_> {
    fn checks_json(&self) -> String {
        serde_json::to_string(self.checks).expect("check ids serialise")
    }
}

/// What the rules judge a write by, read by the store under the lock it
/// writes under.
pub(crate) struct Facts {
    /// Incidents open now.
    open: usize,
    /// Updates (every write is one) of the last minute.
    written_last_minute: usize,
    /// The incident an update is for, if it exists.
    incident: Option<Incident>,
}

enum Store {
    Sqlite(sqlite::SqliteIncidents),
    Postgres(postgres::PgIncidents),
}

pub(crate) struct Incidents {
    store: Store,
    hub: Arc<Hub>,
    writes_per_minute: usize,
    /// Held while the list is read and told, so that the hub is always
    /// told the newest of two reads last.
    telling: Mutex<()>,
}

impl Incidents {
    /// In the history file of one node, over a connection with the schema
    /// in place (`history::side_connection`).
    pub(crate) fn in_sqlite(
        conn: rusqlite::Connection,
        hub: Arc<Hub>,
        shutdown: crate::shutdown::Shutdown,
    ) -> Result<Arc<Incidents>, String> {
        let store = Store::Sqlite(sqlite::SqliteIncidents::new(conn));
        Incidents::start(store, WRITES_PER_MINUTE, hub, shutdown)
    }

    /// In the Postgres a cluster shares its history in; what another
    /// replica writes shows here too. Blocking (the first read).
    pub(crate) fn in_postgres(
        db: &crate::history::PgStore,
        hub: Arc<Hub>,
        shutdown: crate::shutdown::Shutdown,
    ) -> Result<Arc<Incidents>, String> {
        let store = Store::Postgres(postgres::PgIncidents::new(db.reader()));
        let incidents = Incidents::start(store, WRITES_PER_MINUTE, hub, shutdown.clone())?;
        tokio::spawn(postgres::follow(db.reader(), incidents.clone(), shutdown));
        Ok(incidents)
    }

    /// Tells the hub what to show, and again every hour so that old
    /// resolved incidents leave the pages.
    fn start(
        store: Store,
        writes_per_minute: usize,
        hub: Arc<Hub>,
        shutdown: crate::shutdown::Shutdown,
    ) -> Result<Arc<Incidents>, String> {
        let incidents = Arc::new(Incidents {
            store,
            hub,
            writes_per_minute,
            telling: Mutex::new(()),
        });
        incidents.tell().map_err(|e| format!("incidents: {e}"))?;
        let ticking = incidents.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            while shutdown.tick(&mut hourly).await {
                let told = ticking.clone();
                let _ = tokio::task::spawn_blocking(move || told.tell_or_log()).await;
            }
        });
        Ok(incidents)
    }

    /// Opens an incident. Blocking (the database).
    pub(crate) fn open(
        &self,
        opening: Opening,
        by: &str,
        now_ms: u64,
    ) -> Result<Incident, IncidentError> {
        let title = one_line("title", &opening.title, MAX_TITLE)?;
        let message = text("message", &opening.message, MAX_MESSAGE)?;
        if opening.checks.len() > MAX_CHECKS {
            return Err(IncidentError::Invalid(format!(
                "an incident names at most {MAX_CHECKS} checks"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        let checks: Vec<CheckId> = opening
            .checks
            .into_iter()
            .filter(|c| seen.insert(c.clone()))
            .collect();
        self.write(Write {
            incident: None,
            title: &title,
            checks: &checks,
            status: opening.status,
            message: &message,
            by,
            now_ms,
        })
    }

    /// Adds an update to incident `id`. Blocking (the database).
    pub(crate) fn update(
        &self,
        id: i64,
        status: IncidentStatus,
        message: &str,
        by: &str,
        now_ms: u64,
    ) -> Result<Incident, IncidentError> {
        let message = text("message", message, MAX_MESSAGE)?;
        self.write(Write {
            incident: Some(id),
            title: "",
            checks: &[],
            status,
            message: &message,
            by,
            now_ms,
        })
    }

    /// The incidents shown, with every update: open ones, then those
    /// resolved lately, newest first. Blocking (the database).
    pub(crate) fn shown(&self, now_ms: u64) -> Result<Vec<Incident>, String> {
        let since = now_ms.saturating_sub(SHOWN_AFTER_RESOLVED.as_millis() as u64);
        match &self.store {
            Store::Sqlite(db) => db.shown(since, SHOWN_RESOLVED).map_err(|e| e.to_string()),
            Store::Postgres(db) => db.shown(since, SHOWN_RESOLVED).map_err(|e| e.to_string()),
        }
    }

    /// Makes `write` if the rules allow it, then tells the hub. Should the
    /// read for the hub fail, the write stands and the next change or the
    /// hourly tell shows it.
    fn write(&self, write: Write<'_>) -> Result<Incident, IncidentError> {
        let judge = |facts: &Facts| self.judge(&write, facts);
        let written = match &self.store {
            Store::Sqlite(db) => db.write(&write, judge).map_err(failed),
            Store::Postgres(db) => db.write(&write, judge).map_err(failed),
        };
        let incident = written??;
        self.tell_or_log();
        Ok(incident)
    }

    /// The one place of the rules every write obeys, on what the store
    /// read under its lock.
    fn judge(&self, write: &Write<'_>, facts: &Facts) -> Result<(), IncidentError> {
        let opens = match (write.incident, &facts.incident) {
            (None, _) => write.status != IncidentStatus::Resolved,
            (Some(id), None) => return Err(IncidentError::NotFound(id)),
            (Some(id), Some(incident)) => {
                if incident.updates.len() >= MAX_UPDATES {
                    return Err(IncidentError::TooMany(format!(
                        "incident {id} has {MAX_UPDATES} updates already; open a new one"
                    )));
                }
                incident.status() == IncidentStatus::Resolved
                    && write.status != IncidentStatus::Resolved
            }
        };
        if opens && facts.open >= MAX_OPEN {
            return Err(IncidentError::TooMany(format!(
                "{MAX_OPEN} incidents are open already; resolve one first"
            )));
        }
        match facts.written_last_minute >= self.writes_per_minute {
            true => Err(IncidentError::TooSoon),
            false => Ok(()),
        }
    }

    /// Tells the hub what the pages show, each incident with its newest
    /// updates only.
    fn tell(&self) -> Result<(), String> {
        let _telling = self.telling.lock().unwrap_or_else(|p| p.into_inner());
        let mut incidents = self.shown(crate::clock::unix_millis())?;
        for incident in &mut incidents {
            let left_out = incident.updates.len().saturating_sub(SHOWN_UPDATES);
            incident.updates.drain(..left_out);
            incident.earlier_updates = left_out as u32;
        }
        self.hub.set_incidents(IncidentsNotice { incidents });
        Ok(())
    }

    fn tell_or_log(&self) {
        if let Err(error) = self.tell() {
            tracing::warn!(%error, "incidents kept but not shown yet");
        }
    }
}

/// An incident as a store read it, its updates still to add.
fn incident(id: i64, title: String, checks: &str, opened_ms: u64) -> Incident {
    Incident {
        id,
        title,
        checks: serde_json::from_str(checks).unwrap_or_default(),
        opened_ms,
        updates: Vec::new(),
        earlier_updates: 0,
    }
}

/// An update as a store read it.
fn update(at_ms: u64, status: &str, message: String, by: String) -> IncidentUpdate {
    IncidentUpdate {
        at_ms,
        status: IncidentStatus::parse(status).unwrap_or(IncidentStatus::Investigating),
        message,
        by: Some(by),
    }
}

fn failed(error: impl std::fmt::Display) -> IncidentError {
    IncidentError::Failed(error.to_string())
}

/// A text without control characters (newlines aside), trimmed, not
/// empty, and at most `max` characters.
fn text(what: &str, value: &str, max: usize) -> Result<String, IncidentError> {
    // A browser sends a textarea's line breaks as CRLF.
    let value = value.replace("\r\n", "\n").replace('\r', "\n");
    let value = value.trim();
    if value.is_empty() {
        return Err(IncidentError::Invalid(format!("the {what} is empty")));
    }
    if value.chars().count() > max {
        return Err(IncidentError::Invalid(format!(
            "the {what} is longer than {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(IncidentError::Invalid(format!(
            "the {what} has control characters"
        )));
    }
    Ok(value.to_string())
}

fn one_line(what: &str, value: &str, max: usize) -> Result<String, IncidentError> {
    let value = text(what, value, max)?;
    match value.contains('\n') {
        true => Err(IncidentError::Invalid(format!("the {what} is one line"))),
        false => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn incidents(writes_per_minute: usize) -> Incidents {
        let conn = crate::history::side_connection(None).unwrap();
        Incidents {
            store: Store::Sqlite(sqlite::SqliteIncidents::new(conn)),
            hub: Hub::new(16, 10, Metrics::new()),
            writes_per_minute,
            telling: Mutex::new(()),
        }
    }

    fn opening(title: &str, status: IncidentStatus) -> Opening {
        Opening {
            title: title.into(),
            status,
            message: "something".into(),
            checks: Vec::new(),
        }
    }

    #[test]
    fn at_most_so_many_are_open_reopened_ones_included() {
        let incidents = incidents(1000);
        for n in 0..MAX_OPEN {
            let open = opening(&format!("n{n}"), IncidentStatus::Investigating);
            incidents.open(open, "ada", n as u64).unwrap();
        }
        let one_more = opening("one more", IncidentStatus::Identified);
        assert!(matches!(
            incidents.open(one_more, "ada", 99),
            Err(IncidentError::TooMany(_))
        ));
        // Resolve one, open another, then reopening the first is refused.
        incidents
            .update(1, IncidentStatus::Resolved, "done", "ada", 100)
            .unwrap();
        let another = opening("another", IncidentStatus::Investigating);
        incidents.open(another, "ada", 101).unwrap();
        let reopen = incidents.update(1, IncidentStatus::Monitoring, "back", "ada", 102);
        assert!(
            matches!(reopen, Err(IncidentError::TooMany(_))),
            "{reopen:?}"
        );
    }

    #[test]
    fn the_pages_carry_each_incident_with_its_newest_updates() {
        let incidents = incidents(1000);
        let open = opening("long", IncidentStatus::Investigating);
        let id = incidents.open(open, "ada", 1).unwrap().id;
        for n in 0..8 {
            let message = format!("update {n}");
            incidents
                .update(id, IncidentStatus::Monitoring, &message, "ada", 2 + n)
                .unwrap();
        }
        let shown = incidents.hub.snapshot().incidents.incidents;
        assert_eq!(shown[0].updates.len(), SHOWN_UPDATES);
        assert_eq!(shown[0].earlier_updates, 9 - SHOWN_UPDATES as u32);
        assert_eq!(shown[0].updates.last().unwrap().message, "update 7");
        assert_eq!(
            incidents.shown(100).unwrap()[0].updates.len(),
            9,
            "the API has all"
        );
    }

    #[test]
    fn writes_are_counted_over_the_last_minute_refused_ones_not() {
        let incidents = incidents(2);
        let open = |at| incidents.open(opening("x", IncidentStatus::Resolved), "ada", at);
        open(1_000).unwrap();
        open(2_000).unwrap();
        assert_eq!(open(3_000), Err(IncidentError::TooSoon));
        assert_eq!(open(60_999), Err(IncidentError::TooSoon));
        open(61_001).unwrap();
        assert_eq!(incidents.shown(61_001).unwrap().len(), 3);
    }

    #[test]
    fn texts_are_one_place_of_rules() {
        assert_eq!(text("message", " a\r\nb ", 10), Ok("a\nb".to_string()));
        assert!(matches!(
            text("message", "a\u{7}b", 10),
            Err(IncidentError::Invalid(_))
        ));
        assert!(matches!(
            text("message", &"x".repeat(11), 10),
            Err(IncidentError::Invalid(_))
        ));
        assert!(matches!(
            one_line("title", "a\nb", 10),
            Err(IncidentError::Invalid(_))
        ));
        assert!(matches!(
            text("title", " \n ", 10),
            Err(IncidentError::Invalid(_))
        ));
    }
}
