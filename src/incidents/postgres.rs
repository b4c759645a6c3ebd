//! A cluster's incidents, in its history's Postgres
//! (migrations/postgres/003_incidents.sql). Any replica may take a write:
//! each is judged and made in one transaction under one advisory lock, so
//! two replicas never both take the 20th open incident or the 11th write
//! of a minute. The transaction ends with a `NOTIFY`, which Postgres sends
//! only once it committed; every replica listens (`follow`) and reads the
//! list again, so an incident opened on one shows live on all.

use super::{Facts, IncidentError, Incidents, Write};
use crate::history::{PgStore, Result};
use crate::shutdown::Shutdown;
use crate::status::{Incident, IncidentStatus};
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::Transaction;

/// The channel every write notifies.
const CHANNEL: &str = "pulse_incidents";
/// One write at a time, cluster-wide.
const WRITE_LOCK: i64 = 0x7075_6c73_6503;

pub(crate) struct PgIncidents {
    db: PgStore,
}

impl PgIncidents {
    /// Over the cluster's history database (migrated: `PgStore::prepare`).
    pub fn new(db: PgStore) -> PgIncidents {
        PgIncidents { db }
    }

    /// Reads what `judge` needs, and makes the write if it agrees, in one
    /// transaction; the incident as it now is.
    pub(crate) fn write(
        &self,
        write: &Write<'_>,
        judge: impl FnOnce(&Facts) -> std::result::Result<(), IncidentError>,
    ) -> Result<std::result::Result<Incident, IncidentError>> {
        self.db.block_on(async {
            let mut client = self.db.pool().get().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .await?;
            let facts = facts(&tx, write).await?;
            if let Err(refused) = judge(&facts) {
                return Ok(Err(refused));
            }
            let id = match write.incident {
                Some(id) => id,
                None => insert(&tx, write).await?,
            };
            add_update(&tx, id, write).await?;
            tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL]).await?;
            let incident = read(&tx, &[id]).await?.pop();
            let incident = incident.ok_or_else(|| format!("incident {id} vanished"))?;
            tx.commit().await?;
            Ok(Ok(incident))
        })
    }

    /// Open incidents, newest first, then the newest `resolved` of those
    /// resolved at or after `resolved_since`: read in one transaction, so
    /// that each comes with the updates it had.
    pub(crate) fn shown(&self, resolved_since: u64, resolved: usize) -> Result<Vec<Incident>> {
        self.db.block_on(async {
            let mut client = self.db.pool().get().await?;
            let tx = client.transaction().await?;
            let open = tx
                .query(
                    "SELECT id FROM incidents WHERE resolved_ms IS NULL
                     ORDER BY opened_ms DESC, id DESC",
                    &[],
                )
                .await?;
            let closed = tx
                .query(
                    "SELECT id FROM incidents WHERE resolved_ms >= $1
                     ORDER BY resolved_ms DESC, id DESC LIMIT $2",
                    &[&(resolved_since as i64), &(resolved as i64)],
                )
                .await?;
            let ids: Vec<i64> = open.iter().chain(&closed).map(|r| r.get(0)).collect();
            read(&tx, &ids).await
        })
    }
}

/// Follows every replica's writes into `incidents` until shutdown: reads
/// the list on each notification, and whenever it (re)connects, since a
/// write made while it was not listening was told to no one here.
pub(crate) async fn follow(db: PgStore, incidents: Arc<Incidents>, shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        match db.listen(CHANNEL).await {
            Ok((_listening, mut notified)) => loop {
                tell(&incidents).await;
                tokio::select! {
                    _ = shutdown.triggered() => return,
                    told = notified.recv() => if told.is_none() { break },
                }
            },
            Err(error) => {
                tracing::warn!(%error, "incidents: cannot listen for other replicas' writes")
            }
        }
        tokio::select! {
            _ = shutdown.triggered() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

async fn tell(incidents: &Arc<Incidents>) {
    let incidents = incidents.clone();
    let _ = tokio::task::spawn_blocking(move || incidents.tell_or_log()).await;
}

async fn facts(tx: &Transaction<'_>, write: &Write<'_>) -> Result<Facts> {
    let count = |row: tokio_postgres::Row| row.get::<_, i64>(0) as usize;
    let open = tx
        .query_one(
            "SELECT COUNT(*) FROM incidents WHERE resolved_ms IS NULL",
            &[],
        )
        .await?;
    let since = write.now_ms.saturating_sub(60_000) as i64;
    let written = tx
        .query_one(
            "SELECT COUNT(*) FROM incident_updates WHERE at_ms >= $1",
            &[&since],
        )
        .await?;
    let incident = match write.incident {
        Some(id) => read(tx, &[id]).await?.pop(),
        None => None,
    };
    Ok(Facts {
        open: count(open),
        written_last_minute: count(written),
        incident,
    })
}

async fn insert(tx: &Transaction<'_>, write: &Write<'_>) -> Result<i64> {
    let row = tx
        .query_one(
            "INSERT INTO incidents (title, checks, opened_ms) VALUES ($1, $2, $3) RETURNING id",
            &[&write.title, &write.checks_json(), &(write.now_ms as i64)],
        )
        .await?;
    Ok(row.get(0))
}

/// An update, and the incident's resolution set or cleared with it.
async fn add_update(tx: &Transaction<'_>, id: i64, write: &Write<'_>) -> Result<()> {
    let at = write.now_ms as i64;
    tx.execute(
        "INSERT INTO incident_updates (incident, at_ms, status, message, author)
         VALUES ($1, $2, $3, $4, $5)",
        &[&id, &at, &write.status.label(), &write.message, &write.by],
    )
    .await?;
    let resolved = (write.status == IncidentStatus::Resolved).then_some(at);
    tx.execute(
        "UPDATE incidents SET resolved_ms = $2 WHERE id = $1",
        &[&id, &resolved],
    )
    .await?;
    Ok(())
}

/// The incidents `ids`, in that order, each with all its updates.
async fn read(tx: &Transaction<'_>, ids: &[i64]) -> Result<Vec<Incident>> {
    let rows = tx
        .query(
            "SELECT id, title, checks, opened_ms FROM incidents WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
    let mut found: HashMap<i64, Incident> = rows
        .iter()
        .map(|r| {
            let incident = super::incident(r.get(0), r.get(1), r.get(2), r.get::<_, i64>(3) as u64);
            (incident.id, incident)
        })
        .collect();
    let updates = tx
        .query(
            "SELECT incident, at_ms, status, message, author FROM incident_updates
             WHERE incident = ANY($1) ORDER BY id",
            &[&ids],
        )
        .await?;
    for r in &updates {
        if let Some(incident) = found.get_mut(&r.get::<_, i64>(0)) {
            let update = super::update(r.get::<_, i64>(1) as u64, r.get(2), r.get(3), r.get(4));
            incident.updates.push(update);
        }
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}
