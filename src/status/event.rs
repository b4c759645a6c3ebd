//! The kinds of event a stream carries, by their SSE event names: the one
//! list, which the hub frames (`hub::frame`) and the browser listens for
//! and relays between tabs (`live::event_source`, `live::relay`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A check's new status: SSE's default event, framed without a name.
    Message,
    /// Everything at once, to a stream that cannot be replayed.
    Snapshot,
    /// A check left the configuration (or the audience's view).
    Removed,
    Config,
    History,
    Alert,
    Notifiers,
    Incidents,
    /// `Done`: the server is going away.
    Status,
}

impl Event {
    pub const ALL: [Event; 9] = [
        Event::Message,
        Event::Snapshot,
        Event::Removed,
        Event::Config,
        Event::History,
        Event::Alert,
        Event::Notifiers,
        Event::Incidents,
        Event::Status,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::Message => "message",
            Event::Snapshot => "snapshot",
            Event::Removed => "removed",
            Event::Config => "config",
            Event::History => "history",
            Event::Alert => "alert",
            Event::Notifiers => "notifiers",
            Event::Incidents => "incidents",
            Event::Status => "status",
        }
    }

    /// The event of that name, if the stream carries one.
    pub fn named(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|event| event.name() == name)
    }

    /// `status` (`Done`, the server is going away) is the one event
    /// without an id.
    pub fn has_id(self) -> bool {
        self != Event::Status
    }
}
