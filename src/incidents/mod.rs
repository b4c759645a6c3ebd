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
pub const MAX_MESSAGE: usize = 2000;
/// Most checks one incident names.
pub const MAX_CHECKS: usize = 50;
/// Most incidents open at once (reopened ones count), and updates of one
/// incident.
pub const MAX_OPEN: usize = 20;
pub const MAX_UPDATES: usize = 100;
/// Resolved incidents stay on the pages this long, the newest few of them.
pub const SHOWN_AFTER_RESOLVED: Duration = Duration::from_secs(7 * 86_400);
pub const SHOWN_RESOLVED: usize = 5;
/// The updates of each incident the pages carry, newest first. With the
/// bounds above, the whole list every page and every `incidents` event
/// carries stays under about 250 KB, whoever writes.
pub const SHOWN_UPDATES: usize = 5;
/// Writes, from everyone together: a script in a loop cannot fill the
/// event ring with incident lists.
pub const WRITES_PER_MINUTE: u32 = 10;

/// Why a write was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Invalid(String),
    NotFound(i64),
    TooMany(String),
    /// Over `WRITES_PER_MINUTE`.
    TooSoon,
    /// The database failed; nothing was changed.
    Failed(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Invalid(why) | Refused::TooMany(why) => f.write_str(why),
            Refused::NotFound(id) => write!(f, "there is no incident {id}"),
            Refused::TooSoon => write!(
                f,
                "at most {WRITES_PER_MINUTE} incident changes a minute; try again shortly"
            ),
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
    writes: governor::DefaultDirectRateLimiter,
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
        let per_minute = std::num::NonZeroU32::new(WRITES_PER_MINUTE).expect("not zero");
        let incidents = Arc::new(Incidents {
            conn: Mutex::new(conn),
            hub,
            writes: governor::RateLimiter::direct(governor::Quota::per_minute(per_minute)),
        });
        incidents
            .tell(&incidents.conn())
            .map_err(|e| format!("incidents: {e}"))?;
        let ticking = incidents.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            while shutdown.tick(&mut hourly).await {
                let told = ticking.clone();
                let _ = tokio::task::spawn_blocking(move || told.tell_or_log(&told.conn())).await;
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
        let mut seen = std::collections::HashSet::new();
        let checks: Vec<CheckId> = opening
            .checks
            .into_iter()
            .filter(|c| seen.insert(c.clone()))
            .collect();
        let conn = self.conn();
        if opening.status != IncidentStatus::Resolved {
            room_for_one_more_open(&conn)?;
        }
        self.may_write()?;
        let id = store::insert(&conn, &title, &checks, opening.status, &message, by, now_ms)
            .map_err(failed)?;
        let incident = store::read(&conn, id).map_err(failed)?;
        self.tell_or_log(&conn);
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
        let reopens =
            incident.status() == IncidentStatus::Resolved && status != IncidentStatus::Resolved;
        if reopens {
            room_for_one_more_open(&conn)?;
        }
        self.may_write()?;
        store::add_update(&conn, id, status, &message, by, now_ms).map_err(failed)?;
        let incident = store::read(&conn, id).map_err(failed)?;
        self.tell_or_log(&conn);
        incident.ok_or(Refused::NotFound(id))
    }

    /// The incidents shown, with every update: open ones, then those
    /// resolved lately, newest first. Blocking (SQLite).
    pub fn shown(&self, now_ms: u64) -> Result<Vec<Incident>, String> {
        shown(&self.conn(), now_ms).map_err(|e| e.to_string())
    }

    /// Whoever writes, at most `WRITES_PER_MINUTE` together.
    fn may_write(&self) -> Result<(), Refused> {
        self.writes.check().map_err(|_| Refused::TooSoon)
    }

    /// Tells the hub what the pages show, each incident with its newest
    /// updates only. Under the connection's lock, so that two writes are
    /// told in the order they were made.
    fn tell(&self, conn: &Connection) -> rusqlite::Result<()> {
        let mut incidents = shown(conn, crate::checks::unix_millis())?;
        for incident in &mut incidents {
            let left_out = incident.updates.len().saturating_sub(SHOWN_UPDATES);
            incident.updates.drain(..left_out);
            incident.earlier_updates = left_out as u32;
        }
        self.hub.set_incidents(IncidentsNotice { incidents });
        Ok(())
    }

    /// After a write that was kept: the pages learn of it. Should the read
    /// fail, the write stands and the next change or the hourly tell
    /// shows it.
    fn tell_or_log(&self, conn: &Connection) {
        if let Err(error) = self.tell(conn) {
            tracing::warn!(%error, "incidents kept but not shown yet");
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn shown(conn: &Connection, now_ms: u64) -> rusqlite::Result<Vec<Incident>> {
    let since = now_ms.saturating_sub(SHOWN_AFTER_RESOLVED.as_millis() as u64);
    store::shown(conn, since, SHOWN_RESOLVED)
}

fn room_for_one_more_open(conn: &Connection) -> Result<(), Refused> {
    match store::open_count(conn).map_err(failed)? >= MAX_OPEN {
        true => Err(Refused::TooMany(format!(
            "{MAX_OPEN} incidents are open already; resolve one first"
        ))),
        false => Ok(()),
    }
}

fn failed(error: rusqlite::Error) -> Refused {
    Refused::Failed(error.to_string())
}

/// A text without control characters (newlines aside), trimmed, not
/// empty, and at most `max` characters.
fn text(what: &str, value: &str, max: usize) -> Result<String, Refused> {
    // A browser sends a textarea's line breaks as CRLF.
    let value = value.replace("\r\n", "\n").replace('\r', "\n");
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
    Ok(value.to_string())
}

fn one_line(what: &str, value: &str, max: usize) -> Result<String, Refused> {
    let value = text(what, value, max)?;
    match value.contains('\n') {
        true => Err(Refused::Invalid(format!("the {what} is one line"))),
        false => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn incidents(writes_per_minute: u32) -> Incidents {
        let per_minute = std::num::NonZeroU32::new(writes_per_minute).unwrap();
        Incidents {
            conn: Mutex::new(crate::history::side_connection(None).unwrap()),
            hub: Hub::new(16, 10, Metrics::new()),
            writes: governor::RateLimiter::direct(governor::Quota::per_minute(per_minute)),
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
            Err(Refused::TooMany(_))
        ));
        // Resolve one, open another, then reopening the first is refused.
        incidents
            .update(1, IncidentStatus::Resolved, "done", "ada", 100)
            .unwrap();
        let another = opening("another", IncidentStatus::Investigating);
        incidents.open(another, "ada", 101).unwrap();
        let reopen = incidents.update(1, IncidentStatus::Monitoring, "back", "ada", 102);
        assert!(matches!(reopen, Err(Refused::TooMany(_))), "{reopen:?}");
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
    fn texts_are_one_place_of_rules() {
        assert_eq!(text("message", " a\r\nb ", 10), Ok("a\nb".to_string()));
        assert!(matches!(
            text("message", "a\u{7}b", 10),
            Err(Refused::Invalid(_))
        ));
        assert!(matches!(
            text("message", &"x".repeat(11), 10),
            Err(Refused::Invalid(_))
        ));
        assert!(matches!(
            one_line("title", "a\nb", 10),
            Err(Refused::Invalid(_))
        ));
        assert!(matches!(
            text("title", " \n ", 10),
            Err(Refused::Invalid(_))
        ));
    }
}
