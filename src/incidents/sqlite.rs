//! One node's incidents, in its history file (migrations/sqlite/006 and
//! 007). One connection behind a lock: every write is judged and made
//! under it, so no two writes judge the same counts.

use super::{Facts, IncidentError, Write};
use crate::status::{Incident, IncidentStatus, IncidentUpdate};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::sync::{Mutex, MutexGuard};

type Sql<T> = rusqlite::Result<T>;

pub(crate) struct SqliteIncidents {
    conn: Mutex<Connection>,
}

impl SqliteIncidents {
    /// Over a connection with the schema in place
    /// (`history::side_connection`).
    pub fn new(conn: Connection) -> SqliteIncidents {
        SqliteIncidents {
            conn: Mutex::new(conn),
        }
    }

    /// Reads what `judge` needs, and makes the write if it agrees, in one
    /// transaction; the incident as it now is.
    pub(crate) fn write(
        &self,
        write: &Write<'_>,
        judge: impl FnOnce(&Facts) -> Result<(), IncidentError>,
    ) -> Sql<Result<Incident, IncidentError>> {
        let conn = self.conn();
        let tx = Transaction::new_unchecked(&conn, crate::history::WRITE)?;
        let facts = Facts {
            open: open_count(&tx)?,
            written_last_minute: written_since(&tx, write.now_ms.saturating_sub(60_000))?,
            incident: write
                .incident
                .map(|id| read(&tx, id))
                .transpose()?
                .flatten(),
        };
        if let Err(refused) = judge(&facts) {
            return Ok(Err(refused));
        }
        let id = match write.incident {
            Some(id) => id,
            None => insert(&tx, write)?,
        };
        add_update(&tx, id, write)?;
        let incident = read(&tx, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        tx.commit()?;
        Ok(Ok(incident))
    }

    /// Open incidents, newest first, then the newest `resolved` of those
    /// resolved at or after `resolved_since`.
    pub(crate) fn shown(&self, resolved_since: u64, resolved: usize) -> Sql<Vec<Incident>> {
        let conn = self.conn();
        let mut query = conn.prepare_cached(
            "SELECT id, title, checks, opened_ms FROM incidents
             WHERE resolved_ms IS NULL ORDER BY opened_ms DESC, id DESC",
        )?;
        let open = query
            .query_map([], incident_row)?
            .collect::<Sql<Vec<_>>>()?;
        let mut query = conn.prepare_cached(
            "SELECT id, title, checks, opened_ms FROM incidents
             WHERE resolved_ms >= ?1 ORDER BY resolved_ms DESC, id DESC LIMIT ?2",
        )?;
        let params = params![resolved_since as i64, resolved as i64];
        let closed = query
            .query_map(params, incident_row)?
            .collect::<Sql<Vec<_>>>()?;
        open.into_iter()
            .chain(closed)
            .map(|incident| with_updates(&conn, incident))
            .collect()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn open_count(conn: &Connection) -> Sql<usize> {
    conn.query_row(
        "SELECT COUNT(*) FROM incidents WHERE resolved_ms IS NULL",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as usize)
}

/// Updates written at or after `since_ms`: every write is one.
fn written_since(conn: &Connection, since_ms: u64) -> Sql<usize> {
    conn.query_row(
        "SELECT COUNT(*) FROM incident_updates WHERE at_ms >= ?1",
        [since_ms as i64],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as usize)
}

fn insert(tx: &Transaction<'_>, write: &Write<'_>) -> Sql<i64> {
    tx.execute(
        "INSERT INTO incidents (title, checks, opened_ms) VALUES (?1, ?2, ?3)",
        params![write.title, write.checks_json(), write.now_ms as i64],
    )?;
    Ok(tx.last_insert_rowid())
}

/// An update, and the incident's resolution set or cleared with it.
fn add_update(tx: &Transaction<'_>, id: i64, write: &Write<'_>) -> Sql<()> {
    let at = write.now_ms as i64;
    tx.execute(
        "INSERT INTO incident_updates (incident, at_ms, status, message, author)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, at, write.status.label(), write.message, write.by],
    )?;
    let resolved = (write.status == IncidentStatus::Resolved).then_some(at);
    tx.execute(
        "UPDATE incidents SET resolved_ms = ?2 WHERE id = ?1",
        params![id, resolved],
    )?;
    Ok(())
}

fn read(conn: &Connection, id: i64) -> Sql<Option<Incident>> {
    let row = conn
        .query_row(
            "SELECT id, title, checks, opened_ms FROM incidents WHERE id = ?1",
            [id],
            incident_row,
        )
        .optional()?;
    row.map(|incident| with_updates(conn, incident)).transpose()
}

fn incident_row(r: &rusqlite::Row<'_>) -> Sql<Incident> {
    let checks: String = r.get(2)?;
    Ok(super::incident(
        r.get(0)?,
        r.get(1)?,
        &checks,
        r.get::<_, i64>(3)? as u64,
    ))
}

fn with_updates(conn: &Connection, mut incident: Incident) -> Sql<Incident> {
    let mut query = conn.prepare_cached(
        "SELECT at_ms, status, message, author FROM incident_updates
         WHERE incident = ?1 ORDER BY rowid",
    )?;
    let rows = query.query_map([incident.id], |r| {
        let status: String = r.get(1)?;
        Ok(super::update(
            r.get::<_, i64>(0)? as u64,
            &status,
            r.get(2)?,
            r.get(3)?,
        ))
    })?;
    incident.updates = rows.collect::<Sql<Vec<IncidentUpdate>>>()?;
    Ok(incident)
}
