//! The incidents' tables (migrations/sqlite/006_incidents.sql): plain reads and
//! writes, no rules.

use crate::status::{CheckId, Incident, IncidentStatus, IncidentUpdate};
use rusqlite::{Connection, OptionalExtension, params};

type Sql<T> = rusqlite::Result<T>;

pub fn open_count(conn: &Connection) -> Sql<usize> {
    conn.query_row(
        "SELECT COUNT(*) FROM incidents WHERE resolved_ms IS NULL",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as usize)
}

/// A new incident with its first update, in one transaction.
pub fn insert(
    conn: &Connection,
    title: &str,
    checks: &[CheckId],
    status: IncidentStatus,
    message: &str,
    by: &str,
    now_ms: u64,
) -> Sql<i64> {
    let checks = serde_json::to_string(checks).expect("check ids serialise");
    let tx = rusqlite::Transaction::new_unchecked(conn, crate::history::WRITE)?;
    tx.execute(
        "INSERT INTO incidents (title, checks, opened_ms) VALUES (?1, ?2, ?3)",
        params![title, checks, now_ms as i64],
    )?;
    let id = tx.last_insert_rowid();
    write_update(&tx, id, status, message, by, now_ms)?;
    tx.commit()?;
    Ok(id)
}

/// An update, and the incident's resolution set or cleared with it.
pub fn add_update(
    conn: &Connection,
    id: i64,
    status: IncidentStatus,
    message: &str,
    by: &str,
    now_ms: u64,
) -> Sql<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, crate::history::WRITE)?;
    write_update(&tx, id, status, message, by, now_ms)?;
    tx.commit()
}

fn write_update(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    status: IncidentStatus,
    message: &str,
    by: &str,
    now_ms: u64,
) -> Sql<()> {
    tx.execute(
        "INSERT INTO incident_updates (incident, at_ms, status, message, author)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, now_ms as i64, status.label(), message, by],
    )?;
    let resolved = (status == IncidentStatus::Resolved).then_some(now_ms as i64);
    tx.execute(
        "UPDATE incidents SET resolved_ms = ?2 WHERE id = ?1",
        params![id, resolved],
    )?;
    Ok(())
}

pub fn read(conn: &Connection, id: i64) -> Sql<Option<Incident>> {
    let row = conn
        .query_row(
            "SELECT id, title, checks, opened_ms FROM incidents WHERE id = ?1",
            [id],
            incident_row,
        )
        .optional()?;
    row.map(|incident| with_updates(conn, incident)).transpose()
}

/// Open incidents, newest first, then the newest `resolved` of those
/// resolved at or after `resolved_since`.
pub fn shown(conn: &Connection, resolved_since: u64, resolved: usize) -> Sql<Vec<Incident>> {
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
        .map(|incident| with_updates(conn, incident))
        .collect()
}

fn incident_row(r: &rusqlite::Row<'_>) -> Sql<Incident> {
    let checks: String = r.get(2)?;
    Ok(Incident {
        id: r.get(0)?,
        title: r.get(1)?,
        checks: serde_json::from_str(&checks).unwrap_or_default(),
        opened_ms: r.get::<_, i64>(3)? as u64,
        updates: Vec::new(),
        earlier_updates: 0,
    })
}

fn with_updates(conn: &Connection, mut incident: Incident) -> Sql<Incident> {
    let mut query = conn.prepare_cached(
        "SELECT at_ms, status, message, author FROM incident_updates
         WHERE incident = ?1 ORDER BY rowid",
    )?;
    let rows = query.query_map([incident.id], |r| {
        let status: String = r.get(1)?;
        Ok(IncidentUpdate {
            at_ms: r.get::<_, i64>(0)? as u64,
            status: IncidentStatus::parse(&status).unwrap_or(IncidentStatus::Investigating),
            message: r.get(2)?,
            by: Some(r.get(3)?),
        })
    })?;
    incident.updates = rows.collect::<Sql<_>>()?;
    Ok(incident)
}
