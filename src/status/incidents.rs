//! What crosses the wire about incidents: what people who run the checks
//! tell everyone else about an outage, with its updates. Shown live on the
//! dashboard and the public status page (`incidents` event, both streams,
//! and the snapshots).

use super::CheckId;
use serde::{Deserialize, Serialize};

/// Where an incident stands; each update gives one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 4] = [
        IncidentStatus::Investigating,
        IncidentStatus::Identified,
        IncidentStatus::Monitoring,
        IncidentStatus::Resolved,
    ];

    pub fn label(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Monitoring => "monitoring",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<IncidentStatus> {
        IncidentStatus::ALL.into_iter().find(|s| s.label() == text)
    }
}

/// One incident with its whole history, oldest update first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    /// The checks it concerns; the public sees only the public ones.
    pub checks: Vec<CheckId>,
    pub opened_ms: u64,
    /// The newest updates, oldest first: all of them from
    /// `GET /api/incidents`, the newest few on the pages.
    pub updates: Vec<IncidentUpdate>,
    /// How many older updates the pages leave out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub earlier_updates: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Incident {
    /// Where it stands now: its newest update's status.
    pub fn status(&self) -> IncidentStatus {
        self.updates
            .last()
            .map_or(IncidentStatus::Investigating, |u| u.status)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub at_ms: u64,
    pub status: IncidentStatus,
    pub message: String,
    /// Who wrote it; never sent to the public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The payload of the `incidents` event: every incident still open and
/// those resolved in the last days, newest first. Sent whole on each
/// change (there are few), so a page never has to merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentsNotice {
    pub incidents: Vec<Incident>,
}

impl IncidentsNotice {
    /// What the public may see: only public checks named, no authors.
    pub fn for_public(&self, is_public: impl Fn(&CheckId) -> bool) -> IncidentsNotice {
        let incidents = self
            .incidents
            .iter()
            .map(|incident| Incident {
                checks: incident
                    .checks
                    .iter()
                    .filter(|c| is_public(c))
                    .cloned()
                    .collect(),
                updates: incident
                    .updates
                    .iter()
                    .map(|u| IncidentUpdate {
                        by: None,
                        ..u.clone()
                    })
                    .collect(),
                ..incident.clone()
            })
            .collect();
        IncidentsNotice { incidents }
    }
}
