//! The hub: the one owner of what the checks have said. It keeps the current
//! status of every check, a bounded ring of recent events for replay, and a
//! broadcast channel that fans each event out to every connected stream.
//!
//! Each event is serialised and framed once, in `publish`; every client gets
//! the same reference-counted bytes. Publishing therefore costs the same with
//! no listener or a hundred thousand, and the broadcast buffer is shared, so a
//! client that stops reading holds a position in it, not a copy of it.
//!
//! There are two audiences (`Audience`): the private one sees every event,
//! the public one only public checks, as `PublicStatus`. Each event is
//! framed once per audience that gets it, never once per client; the ids
//! are one sequence for both, and an event the public must not get simply
//! has no public frame, so a public client skips it in live, replay and
//! snapshot alike.

pub(crate) mod frame;
pub mod ids;

use crate::metrics::Metrics;
use crate::status::{
    AlertNotice, AlertState, Audience, CheckId, CheckStatus, ConfigNotice, Event, HistoryNotice,
    IncidentsNotice, NotifiersNotice, PublicSnapshot, Publicity, Removed, Snapshot,
};
use bytes::Bytes;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// One published event, ready to write to any client.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub(crate) id: u64,
    /// What the private audience gets.
    pub(crate) frame: Bytes,
    /// What the public gets; `None` for an event it must not see (a private
    /// check's result, the config and history notices).
    pub(crate) public: Option<Bytes>,
    /// Whether this is an event, or word that streams end.
    pub(crate) signal: Signal,
}

/// What a delivery tells the streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// An event: its frame, to whoever may read it.
    Event,
    /// Not an event: every private stream ends, so that its client comes
    /// back and is asked again who it is (see `end_private_streams`).
    AskAgain,
    /// Not an event: the server is stopping, and every stream ends with
    /// `Done` after the events sent before this (see `end_streams`).
    Done,
}

impl Delivery {
    /// The frame `audience` is sent, if it gets this event at all.
    pub(crate) fn frame_for(&self, audience: Audience) -> Option<&Bytes> {
        match audience {
            Audience::Private => Some(&self.frame),
            Audience::Public => self.public.as_ref(),
        }
    }
}

/// What the public gets of an event being sent.
enum ForPublic<'a> {
    Nothing,
    /// The same bytes as the private audience (a public check's `removed`).
    Same,
    /// Its own data, framed with the same id.
    Own(Event, &'a str),
}

/// The snapshot in either form, for `GET /api/status`.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum SnapshotFor {
    Private(Snapshot),
    Public(PublicSnapshot),
}

/// How a new stream starts: with the events it missed, or with a snapshot.
#[derive(Debug)]
pub enum Start {
    /// The client's last id is in the ring: exactly the events after
    /// `after` up to `until` (the newest when it subscribed; later ones
    /// come on its receiver). Read from the ring piece by piece with
    /// `Hub::replay_piece` as the client takes them, so a client that
    /// stops reading holds one piece, not its whole backlog. `first` is
    /// written before: in a cluster, this replica's own notices (see
    /// `HubState::own_notices`); for a client with no usable id, a shared
    /// snapshot taken at `after` (see `HubState::snapshot_start`).
    Replay {
        after: u64,
        until: u64,
        first: Option<Bytes>,
    },
    /// No usable id: one `snapshot` event with every current status.
    Snapshot(Bytes),
}

/// A client's place in the fan-out. Dropping it releases everything the hub
/// holds for that client and lowers the connected-clients count.
pub struct Subscription {
    pub start: Start,
    /// Which frames this client is written.
    pub(crate) audience: Audience,
    pub live: broadcast::Receiver<Delivery>,
    pub(crate) client: ClientSlot,
}

/// Why a subscription was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct AtCapacity {
    pub(crate) max_clients: usize,
}

/// A snapshot is framed again once it is this old, or `ring_size /
/// SNAPSHOT_BEHIND` events behind, whichever comes first. Until then every
/// client that needs one gets the same bytes and replays the few events
/// after it: with events flowing, a crowd arriving over a few seconds then
/// shares a handful of snapshots instead of holding one each (a client
/// that stops reading keeps its snapshot alive until it is cut off).
const SNAPSHOT_REUSE: std::time::Duration = std::time::Duration::from_secs(2);
const SNAPSHOT_BEHIND: usize = 8;
/// A smaller snapshot is framed afresh for each client after a change, so
/// that it is exactly the present: it costs little, and a crowd holding
/// one each holds little.
const SNAPSHOT_SHARED_FROM: usize = 64 * 1024;

/// How long a resuming client waits for this replica to read the id it
/// brings (`Hub::until_caught_up`): a follower is milliseconds behind.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(1);
/// How far ahead of this replica's newest an id may be and still be
/// waited for: ten seconds of the log's ids (`ids`).
const CATCH_UP_IDS: u64 = 10_000 * ids::PER_MILLISECOND;

/// A part that takes every new result on its own thread (the history
/// writer, the alert rules): offered each one and never waited for, so
/// nothing it does can slow a check or a stream. The hub knows its
/// followers only by this.
pub(crate) trait Follower: Send + Sync {
    /// A result to take; must not block.
    fn offer(&self, status: &CheckStatus);
    /// At shutdown: take no more, and finish what was taken.
    fn close(&self);
}

/// What the alerts may tell the dashboard through the hub, and nothing
/// more: where each check's alert stands and which notifiers fail. Weak,
/// as the hub holds the alerts among its followers; once the hub is gone
/// there is nobody to tell.
#[derive(Clone)]
pub(crate) struct AlertBoard(std::sync::Weak<Hub>);

impl AlertBoard {
    /// Where a check's alert stands now (`Hub::set_alert`).
    pub(crate) fn tell_alert(&self, notice: AlertNotice) {
        if let Some(hub) = self.0.upgrade() {
            hub.set_alert(notice);
        }
    }

    /// Which notifiers are failing now (`Hub::set_notifiers`).
    pub(crate) fn tell_notifiers(&self, notice: NotifiersNotice) {
        if let Some(hub) = self.0.upgrade() {
            hub.set_notifiers(notice);
        }
    }
}

pub struct Hub {
    state: Mutex<HubState>,
    /// Who is offered every new result (`follow`).
    followers: RwLock<Vec<Arc<dyn Follower>>>,
    live: broadcast::Sender<Delivery>,
    metrics: Arc<Metrics>,
    max_clients: usize,
    /// The most streams open at once since `take_peak_clients` last read it:
    /// a crowd that came and went between two looks still counts.
    peak_clients: AtomicUsize,
}

struct HubState {
    /// Current statuses in the order checks were registered.
    statuses: Vec<CheckStatus>,
    /// Who may see each of `statuses`, at the same position.
    publicity: Vec<Publicity>,
    index: HashMap<CheckId, usize>,
    /// The id the next event gets. Starts at the start-up time in
    /// microseconds, so ids grow across restarts and an id from an earlier
    /// run is always older than anything in this run's ring.
    next_id: u64,
    /// The events come from a cluster's shared log (`publish_shared`),
    /// with its ids; the notices this replica sends itself (its config,
    /// its history's health) repeat the newest id instead of taking one,
    /// so that every id a client sees is the log's, valid on any replica.
    shared: bool,
    /// The id after which the ring holds every event: the last one it
    /// dropped, or where the ids began.
    floor: u64,
    ring: VecDeque<Delivery>,
    ring_size: usize,
    /// Where the ring's frames are written, side by side.
    frames: frame::Blocks,
    config: ConfigNotice,
    history: HistoryNotice,
    /// Each check's alert that is not `ok`, as the alert rules last told.
    /// Kept for a check not registered yet (the rules start first, with
    /// the alerts still open from the last run).
    alerts: HashMap<CheckId, AlertState>,
    notifiers: NotifiersNotice,
    incidents: IncidentsNotice,
    /// The framed snapshot per audience, shared by every client that
    /// starts from it (see `SNAPSHOT_REUSE`): a burst of connects costs one
    /// serialisation and one copy in memory, not one each.
    snapshot_frames: PerAudience<KeptSnapshot>,
    /// In a cluster, the framed notices of this replica per audience, for
    /// clients that resume here; built on the first resume after a notice.
    own_notice_frames: PerAudience<Bytes>,
}

/// A framed snapshot, and the event it is as of.
struct KeptSnapshot {
    frame: Bytes,
    id: u64,
    framed_at: std::time::Instant,
}

struct PerAudience<T> {
    private: Option<T>,
    public: Option<T>,
}

impl<T> Default for PerAudience<T> {
    fn default() -> Self {
        PerAudience {
            private: None,
            public: None,
        }
    }
}

impl<T> PerAudience<T> {
    fn slot(&mut self, audience: Audience) -> &mut Option<T> {
        match audience {
            Audience::Private => &mut self.private,
            Audience::Public => &mut self.public,
        }
    }

    fn get(&self, audience: Audience) -> Option<&T> {
        match audience {
            Audience::Private => self.private.as_ref(),
            Audience::Public => self.public.as_ref(),
        }
    }
}

impl Hub {
    pub fn new(ring_size: usize, max_clients: usize, metrics: Arc<Metrics>) -> Arc<Hub> {
        let ring_size = ring_size.max(1);
        // The broadcast buffer is the ring's twin: a client that falls further
        // behind than the ring could replay is resynchronised with a snapshot.
        let (live, _) = broadcast::channel(ring_size);
        let first_id = first_event_id();
        Arc::new(Hub {
            state: Mutex::new(HubState {
                statuses: Vec::new(),
                publicity: Vec::new(),
                index: HashMap::new(),
                next_id: first_id,
                shared: false,
                floor: first_id - 1,
                ring: VecDeque::with_capacity(ring_size),
                ring_size,
                frames: frame::Blocks::new(),
                config: ConfigNotice::default(),
                history: HistoryNotice::default(),
                alerts: HashMap::new(),
                notifiers: NotifiersNotice::default(),
                incidents: IncidentsNotice::default(),
                snapshot_frames: PerAudience::default(),
                own_notice_frames: PerAudience::default(),
            }),
            live,
            followers: RwLock::new(Vec::new()),
            metrics,
            max_clients,
            peak_clients: AtomicUsize::new(0),
        })
    }

    /// Makes a check known before its first result, so that snapshots list
    /// it (as `unknown`) from the start, to the audiences `publicity` lets
    /// see it. Publishes nothing; a check already known changes audience
    /// through `set_publicity` first.
    pub fn register(&self, status: CheckStatus, publicity: Publicity) {
        let mut state = self.lock();
        state.upsert(status, Some(publicity));
        state.forget_frames();
    }

    /// Makes a known check public or private, or changes its public detail
    /// (a reload changed the config), and tells both audiences in one
    /// event: the public gets the check's current public status when it is
    /// public after the change, `removed` when it became private; the
    /// private audience gets the check's current status again, which it
    /// already shows. Nothing happens for an unknown check or no change.
    pub(crate) fn set_publicity(&self, id: &CheckId, publicity: Publicity) {
        let mut state = self.lock();
        let Some(&at) = state.index.get(id) else {
            return;
        };
        if state.publicity[at] == publicity {
            return;
        }
        let status = &state.statuses[at];
        let private = serde_json::to_string(status).expect("CheckStatus serialises");
        let public = match publicity.project(status) {
            Some(shown) => serde_json::to_string(&shown).expect("PublicStatus serialises"),
            None => removed_json(id),
        };
        let kind = match publicity.is_public() {
            true => Event::Message,
            false => Event::Removed,
        };
        state.publicity[at] = publicity;
        self.send(
            &mut state,
            Event::Message,
            &private,
            ForPublic::Own(kind, &public),
        );
        // What the public reads of an incident names only public checks:
        // one that names this check is told again as it now reads.
        if state
            .incidents
            .incidents
            .iter()
            .any(|i| i.checks.contains(id))
        {
            self.send_incidents(&mut state);
        }
    }

    /// Records a result and sends it to every subscriber. Returns its id,
    /// or `None` for a check that is not registered (any more): a run that
    /// finishes just after its check was removed must not bring it back.
    pub fn publish(&self, status: CheckStatus) -> Option<u64> {
        self.record(status, None, true)
    }

    /// Records a result read from a cluster's shared log, under the log's
    /// id; `None` for one already recorded (an id not newer) or an unknown
    /// check. `keep`: also to the history and the alert rules (not for what
    /// is read back at start-up, which they had when it was new).
    pub(crate) fn publish_shared(&self, id: u64, status: CheckStatus, keep: bool) -> Option<u64> {
        self.record(status, Some(id), keep)
    }

    /// Makes this hub a follower of a cluster's shared log whose events
    /// come after `base`: the ring is emptied, the ids start there, and
    /// every open stream is sent a fresh snapshot in-band, since the ids
    /// it holds no longer mean anything. At the start of following, and
    /// whenever the log was lost and began again (a new epoch).
    pub(crate) fn begin_epoch(&self, base: u64) {
        let mut state = self.lock();
        state.shared = true;
        state.ring.clear();
        state.floor = base;
        state.next_id = base.saturating_add(1);
        state.forget_frames();
        let frame = state.snapshot_frame(Audience::Private);
        let public = Some(state.snapshot_frame(Audience::Public));
        let _ = self.live.send(Delivery {
            id: base,
            frame,
            public,
            signal: Signal::Event,
        });
    }

    /// Takes `status` as a check's current one without sending it: what a
    /// replica that starts learns from the cluster before it follows.
    pub(crate) fn adopt(&self, status: CheckStatus) {
        let mut state = self.lock();
        let Some(&at) = state.index.get(&status.id) else {
            return;
        };
        state.statuses[at] = status;
        state.forget_frames();
    }

    fn record(&self, status: CheckStatus, id: Option<u64>, keep: bool) -> Option<u64> {
        // Serialising cannot fail for these types; doing it outside the lock
        // keeps the critical section to bookkeeping.
        let json = serde_json::to_string(&status).expect("CheckStatus serialises");
        let mut state = self.lock();
        let &at = state.index.get(&status.id)?;
        // An id with none after it could not be followed: refused as one
        // already seen is (the cluster's ids never come near it).
        if id.is_some_and(|id| id <= state.last_event_id() || id.checked_add(1).is_none()) {
            return None;
        }
        if keep {
            let followers = self.followers.read().unwrap_or_else(|p| p.into_inner());
            followers
                .iter()
                .for_each(|follower| follower.offer(&status));
        }
        // Under the lock, as the publicity may change with a reload; only
        // public checks pay for it, once per event whatever the audience.
        let public = state.publicity[at]
            .project(&status)
            .map(|shown| serde_json::to_string(&shown).expect("PublicStatus serialises"));
        state.upsert(status, None);
        let for_public = public.as_deref().map_or(ForPublic::Nothing, |public| {
            ForPublic::Own(Event::Message, public)
        });
        Some(match id {
            Some(id) => self.send_as(&mut state, id, Event::Message, &json, for_public),
            None => self.send(&mut state, Event::Message, &json, for_public),
        })
    }

    /// The handle through which the alerts tell the dashboard what they
    /// decided.
    pub(crate) fn alert_board(self: &Arc<Self>) -> AlertBoard {
        AlertBoard(Arc::downgrade(self))
    }

    /// Offers every new result from now on to `follower` as well.
    pub(crate) fn follow(&self, follower: Arc<dyn Follower>) {
        let mut followers = self.followers.write().unwrap_or_else(|p| p.into_inner());
        followers.push(follower);
    }

    /// At shutdown: each follower takes no more and finishes, the last to
    /// follow first.
    pub(crate) fn close_followers(&self) {
        let followers =
            std::mem::take(&mut *self.followers.write().unwrap_or_else(|p| p.into_inner()));
        followers.iter().rev().for_each(|follower| follower.close());
    }

    /// Whether results are being saved; sent to every client when it changes.
    pub(crate) fn set_history_notice(&self, notice: HistoryNotice) {
        self.set_private_notice(Event::History, notice, |state| &mut state.history);
    }

    /// Keeps a notice for the private snapshot and, when it changed, sends
    /// it to the private audience as an event of `kind`.
    fn set_private_notice<T: PartialEq + Serialize>(
        &self,
        kind: Event,
        notice: T,
        slot: impl FnOnce(&mut HubState) -> &mut T,
    ) {
        let mut state = self.lock();
        let kept = slot(&mut state);
        if *kept == notice {
            return;
        }
        let json = serde_json::to_string(&notice).expect("notices serialise");
        *kept = notice;
        self.send(&mut state, kind, &json, ForPublic::Nothing);
    }

    /// Where a check's alert stands, from the alert rules: kept for
    /// snapshots and sent to the private audience when it changed. The
    /// public never sees alerts.
    fn set_alert(&self, notice: AlertNotice) {
        let mut state = self.lock();
        let changed = match notice.state {
            AlertState::Ok => state.alerts.remove(&notice.id).is_some(),
            ref told => {
                state
                    .alerts
                    .insert(notice.id.clone(), told.clone())
                    .as_ref()
                    != Some(told)
            }
        };
        if changed && state.index.contains_key(&notice.id) {
            let json = serde_json::to_string(&notice).expect("AlertNotice serialises");
            self.send(&mut state, Event::Alert, &json, ForPublic::Nothing);
        }
    }

    /// Which notifiers are failing; sent to the private audience when it
    /// changes.
    fn set_notifiers(&self, notice: NotifiersNotice) {
        self.set_private_notice(Event::Notifiers, notice, |state| &mut state.notifiers);
    }

    /// The incidents to show, as `incidents::Incidents` last read them:
    /// kept for snapshots and sent to both audiences, the public with
    /// only the public checks named and no authors.
    pub(crate) fn set_incidents(&self, notice: IncidentsNotice) {
        let mut state = self.lock();
        if state.incidents == notice {
            return;
        }
        state.incidents = notice;
        self.send_incidents(&mut state);
    }

    /// The incidents as each audience may read them.
    fn send_incidents(&self, state: &mut HubState) {
        let json = serde_json::to_string(&state.incidents).expect("IncidentsNotice serialises");
        let public = state.public_incidents(&state.incidents);
        let public = serde_json::to_string(&public).expect("IncidentsNotice serialises");
        let for_public = ForPublic::Own(Event::Incidents, &public);
        self.send(state, Event::Incidents, &json, for_public);
    }

    /// Ends every private stream: who may see what has changed (someone
    /// signed out, the access rule was reloaded), and a stream was let in
    /// under the old rule. Each client reconnects at once with its last id
    /// and is asked again; it misses nothing. Sent on the fan-out only,
    /// never kept in the ring, so no replay ever ends a stream.
    pub(crate) fn end_private_streams(&self) {
        self.signal_streams(Signal::AskAgain);
    }

    /// Ends every stream, each after the events sent before this: the
    /// server is stopping. Told on the fan-out, which every stream waits
    /// on anyway, rather than by each stream also watching the shutdown:
    /// polling that (two mutexes every tokio_util and tokio poll takes)
    /// after each event cost 6 % of a loaded server's CPU
    /// (docs/benchmarks.md). A stream that missed this (it subscribed or
    /// resynchronised after it) sees the shutdown on its own.
    pub(crate) fn end_streams(&self) {
        self.signal_streams(Signal::Done);
    }

    /// Sends every stream `signal` on the fan-out, after the events sent
    /// before it (under the lock, so none is sent between), never kept in
    /// the ring.
    fn signal_streams(&self, signal: Signal) {
        let state = self.lock();
        let _ = self.live.send(Delivery {
            id: state.last_event_id(),
            frame: Bytes::new(),
            public: None,
            signal,
        });
    }

    /// Forgets a check and tells every client that could see it to drop
    /// its card.
    pub(crate) fn remove(&self, id: &CheckId) {
        let json = removed_json(id);
        let mut state = self.lock();
        state.alerts.remove(id);
        if let Some(publicity) = state.forget(id) {
            let for_public = match publicity.is_public() {
                true => ForPublic::Same,
                false => ForPublic::Nothing,
            };
            self.send(&mut state, Event::Removed, &json, for_public);
        }
    }

    /// Where the checks come from and whether the last reload failed; sent
    /// to every client and part of every snapshot.
    /// A (re)load of the config: where it came from and whether it was
    /// refused. What the cluster says of it (`set_config_difference`) stays.
    pub(crate) fn set_config(&self, mut notice: ConfigNotice) {
        let mut state = self.lock();
        notice.differs = state.config.differs.clone();
        self.send_config(&mut state, notice);
    }

    /// In a cluster: whether, and how, the replicas' configs differ. Told
    /// only when it changed.
    pub(crate) fn set_config_difference(&self, differs: Option<String>) {
        let mut state = self.lock();
        if state.config.differs == differs {
            return;
        }
        let notice = ConfigNotice {
            differs,
            ..state.config.clone()
        };
        self.send_config(&mut state, notice);
    }

    fn send_config(&self, state: &mut HubState, notice: ConfigNotice) {
        let json = serde_json::to_string(&notice).expect("ConfigNotice serialises");
        state.config = notice;
        self.send(state, Event::Config, &json, ForPublic::Nothing);
    }

    /// Gives the next id to an event (in a cluster, the newest id again),
    /// frames it once per audience that gets it, keeps it in the ring and
    /// fans it out.
    fn send(&self, state: &mut HubState, kind: Event, json: &str, public: ForPublic) -> u64 {
        let id = match state.shared {
            true => state.last_event_id(),
            false => state.next_id,
        };
        self.send_as(state, id, kind, json, public)
    }

    /// `send` with the id given.
    fn send_as(
        &self,
        state: &mut HubState,
        id: u64,
        kind: Event,
        json: &str,
        public: ForPublic,
    ) -> u64 {
        state.next_id = state.next_id.max(id.saturating_add(1));
        let frame = state.frames.event(kind, Some(id), json);
        let public = match public {
            ForPublic::Nothing => None,
            ForPublic::Same => Some(frame.clone()),
            ForPublic::Own(kind, json) => Some(state.frames.event(kind, Some(id), json)),
        };
        let delivery = Delivery {
            id,
            frame,
            public,
            signal: Signal::Event,
        };
        // A kept snapshot stays good: a client starting from it replays
        // the events after its id. Not one as of this very id (a cluster's
        // notice repeats the newest id), which a replay would skip. A
        // notice (an event with a kind) also changes what a replica tells
        // a client resuming there.
        if id <= state.snapshot_id(Audience::Private).unwrap_or(0)
            || id <= state.snapshot_id(Audience::Public).unwrap_or(0)
        {
            state.snapshot_frames = PerAudience::default();
        }
        if kind != Event::Message {
            state.own_notice_frames = PerAudience::default();
        }
        if state.ring.len() == state.ring_size
            && let Some(dropped) = state.ring.pop_front()
        {
            state.floor = dropped.id;
        }
        state.ring.push_back(delivery.clone());
        // Sent under the lock so that a subscriber, which also takes it, sees
        // every event exactly once: either in its start or on its receiver.
        // An error only means nobody listens, which is fine.
        let _ = self.live.send(delivery);
        self.metrics.events_published.inc();
        id
    }

    /// In a cluster, a client may come back with an id this replica's
    /// follower has not read yet: it read it on a replica a moment ahead.
    /// Waits until this replica has it, at most `CATCH_UP`, so that the
    /// client gets a replay rather than a snapshot. Returns at once for
    /// any other id (one node, an id it has, an id too far ahead to be
    /// the log's newest, as a made-up one is).
    pub(crate) async fn until_caught_up(&self, last_event_id: Option<u64>) {
        let Some(wanted) = last_event_id else {
            return;
        };
        let mut live = {
            let state = self.lock();
            let newest = state.last_event_id();
            let near = wanted.saturating_sub(newest) <= CATCH_UP_IDS;
            if !state.shared || wanted <= newest || !near {
                return;
            }
            self.live.subscribe()
        };
        let reached = async {
            loop {
                match live.recv().await {
                    Ok(delivery) if delivery.id >= wanted => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if self.lock().last_event_id() >= wanted {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        let _ = tokio::time::timeout(CATCH_UP, reached).await;
    }

    /// Subscribes a client of `audience` that last saw `last_event_id` (if
    /// any). A refusal is counted by whoever answers it: the direct path
    /// passes a refused client on to the handler, which asks again.
    pub fn subscribe_from(
        &self,
        last_event_id: Option<u64>,
        audience: Audience,
    ) -> Result<Subscription, AtCapacity> {
        let Some((slot, open)) =
            ClientSlot::claim(&self.metrics.connected_clients, self.max_clients)
        else {
            return Err(AtCapacity {
                max_clients: self.max_clients,
            });
        };
        self.peak_clients.fetch_max(open, Ordering::Relaxed);
        let mut state = self.lock();
        let start = match last_event_id.filter(|&id| state.can_replay_after(id)) {
            Some(after) => {
                self.metrics.replays.inc();
                Start::Replay {
                    after,
                    until: state.last_event_id(),
                    first: state.shared.then(|| state.own_notices(audience)),
                }
            }
            None => {
                self.metrics.snapshots_on_connect.inc();
                state.snapshot_start(audience)
            }
        };
        Ok(Subscription {
            start,
            audience,
            live: self.live.subscribe(),
            client: slot,
        })
    }

    /// The frames `audience` gets of the events after `after`, up to
    /// `until`, as many as fit in `budget` bytes (at least one, unless none
    /// is left), and the id of the last event looked at (skipped ones
    /// included, so the next piece starts after them); `None` once the
    /// ring no longer holds the event after `after` (the client replayed
    /// too slowly and must start over from a snapshot). The frames are
    /// shared, not copied: the lock is held for a few reference counts.
    pub(crate) fn replay_piece(
        &self,
        after: u64,
        until: u64,
        budget: usize,
        audience: Audience,
    ) -> Option<(Vec<Bytes>, u64)> {
        let state = self.lock();
        if after < state.floor {
            return None;
        }
        let mut frames = Vec::new();
        let (mut size, mut last) = (0, after);
        let missed = state
            .ring
            .range(state.ring.partition_point(|d| d.id <= after)..);
        for delivery in missed.take_while(|d| d.id <= until) {
            let Some(frame) = delivery.frame_for(audience) else {
                last = delivery.id;
                continue;
            };
            if !frames.is_empty() && size + frame.len() > budget {
                break;
            }
            size += frame.len();
            last = delivery.id;
            frames.push(frame.clone());
        }
        Some((frames, last))
    }

    /// For a client that fell behind the broadcast buffer: a snapshot (and
    /// the events after it) and a new receiver positioned right after them.
    pub(crate) fn resync(&self, audience: Audience) -> (Start, broadcast::Receiver<Delivery>) {
        self.metrics.slow_client_resyncs.inc();
        let mut state = self.lock();
        (state.snapshot_start(audience), self.live.subscribe())
    }

    /// Every current status, and the id of the newest event they include.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot()
    }

    /// Every public check as the public sees it.
    pub(crate) fn public_snapshot(&self) -> PublicSnapshot {
        self.lock().public_snapshot()
    }

    /// The snapshot `audience` may see.
    pub(crate) fn snapshot_for(&self, audience: Audience) -> SnapshotFor {
        match audience {
            Audience::Private => SnapshotFor::Private(self.snapshot()),
            Audience::Public => SnapshotFor::Public(self.public_snapshot()),
        }
    }

    /// Streams open right now.
    pub fn connected_clients(&self) -> usize {
        self.metrics.connected_clients.get().max(0) as usize
    }

    /// The most streams open at once since the last call; starts the next
    /// span from the number open now.
    pub(crate) fn take_peak_clients(&self) -> usize {
        let open = self.connected_clients();
        self.peak_clients.swap(open, Ordering::Relaxed).max(open)
    }

    /// Where the parts around the hub record what they do.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock cannot leave the state half-written
        // in a way that matters more than stopping the whole server would.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl HubState {
    /// Sets a check's status, and its publicity if given (a check seen
    /// for the first time without one is private).
    fn upsert(&mut self, status: CheckStatus, publicity: Option<Publicity>) {
        match self.index.get(&status.id) {
            Some(&at) => {
                self.statuses[at] = status;
                if let Some(publicity) = publicity {
                    self.publicity[at] = publicity;
                }
            }
            None => {
                self.index.insert(status.id.clone(), self.statuses.len());
                self.statuses.push(status);
                self.publicity.push(publicity.unwrap_or_default());
            }
        }
    }

    /// Drops a check from the statuses; its publicity, or `None` if it was
    /// not there.
    fn forget(&mut self, id: &CheckId) -> Option<Publicity> {
        let at = self.index.remove(id)?;
        self.statuses.remove(at);
        for later in &self.statuses[at..] {
            if let Some(position) = self.index.get_mut(&later.id) {
                *position -= 1;
            }
        }
        Some(self.publicity.remove(at))
    }

    fn last_event_id(&self) -> u64 {
        self.next_id - 1
    }

    /// Whether the ring still holds every event after `last_seen`, an id
    /// this hub gave: where the ring begins or one of its events. (A
    /// cluster's ids have gaps; an id in one is not an event's.)
    fn can_replay_after(&self, last_seen: u64) -> bool {
        last_seen == self.floor || self.ring.binary_search_by_key(&last_seen, |d| d.id).is_ok()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            last_event_id: self.last_event_id(),
            checks: self.statuses.clone(),
            config: self.config.clone(),
            history: self.history.clone(),
            alerts: self.alert_notices(),
            notifiers: self.notifiers.clone(),
            incidents: self.incidents.clone(),
        }
    }

    /// Each registered check's alert that is not `ok`, in the checks' order.
    fn alert_notices(&self) -> Vec<AlertNotice> {
        self.statuses
            .iter()
            .filter_map(|s| {
                let state = self.alerts.get(&s.id)?.clone();
                Some(AlertNotice {
                    id: s.id.clone(),
                    state,
                })
            })
            .collect()
    }

    fn public_incidents(&self, notice: &IncidentsNotice) -> IncidentsNotice {
        notice.for_public(|id| {
            self.index
                .get(id)
                .is_some_and(|&at| self.publicity[at].is_public())
        })
    }

    fn public_snapshot(&self) -> PublicSnapshot {
        let shown = self.statuses.iter().zip(&self.publicity);
        PublicSnapshot {
            last_event_id: self.last_event_id(),
            checks: shown
                .filter_map(|(status, publicity)| publicity.project(status))
                .collect(),
            incidents: self.public_incidents(&self.incidents),
        }
    }

    /// The checks changed (registered, taken over, a new epoch) without an
    /// event a replay would carry: the frames of the snapshots and of the
    /// notices are built again when next asked for.
    fn forget_frames(&mut self) {
        self.snapshot_frames = PerAudience::default();
        self.own_notice_frames = PerAudience::default();
    }

    /// What a client resuming on this replica of a cluster is told before
    /// its replay: the notices only this replica sends (its config, its
    /// history's health, its alerts, notifiers and incidents as it knows
    /// them). They repeat the log's newest id when sent, so one sent before
    /// the client's id, maybe read on another replica, would not be
    /// replayed. Framed without ids: the client's place stays its own.
    fn own_notices(&mut self, audience: Audience) -> Bytes {
        if let Some(frames) = self.own_notice_frames.slot(audience) {
            return frames.clone();
        }
        fn json(value: &impl Serialize) -> String {
            serde_json::to_string(value).expect("notices serialise")
        }
        let mut frames = Vec::new();
        if audience == Audience::Private {
            frames.push(frame::event(Event::Config, None, &json(&self.config)));
            frames.push(frame::event(Event::History, None, &json(&self.history)));
            frames.push(frame::event(Event::Notifiers, None, &json(&self.notifiers)));
            for alert in self.alert_notices() {
                frames.push(frame::event(Event::Alert, None, &json(&alert)));
            }
            frames.push(frame::event(Event::Incidents, None, &json(&self.incidents)));
        } else {
            let public = self.public_incidents(&self.incidents);
            frames.push(frame::event(Event::Incidents, None, &json(&public)));
        }
        let joined = Bytes::from(frames.concat());
        *self.own_notice_frames.slot(audience) = Some(joined.clone());
        joined
    }

    /// How a client of `audience` with no usable id starts: the kept
    /// snapshot and the events after it, or a snapshot framed now when the
    /// kept one is too old or too far behind (or there is none).
    fn snapshot_start(&mut self, audience: Audience) -> Start {
        let reusable = self
            .snapshot_frames
            .get(audience)
            .is_some_and(|kept| self.may_reuse(kept));
        if !reusable {
            let frame = self.snapshot_frame(audience);
            *self.snapshot_frames.slot(audience) = Some(KeptSnapshot {
                frame,
                id: self.last_event_id(),
                framed_at: std::time::Instant::now(),
            });
        }
        let kept = self.snapshot_frames.get(audience).expect("kept just now");
        let newest = self.last_event_id();
        match kept.id == newest {
            true => Start::Snapshot(kept.frame.clone()),
            false => Start::Replay {
                after: kept.id,
                until: newest,
                first: Some(kept.frame.clone()),
            },
        }
    }

    /// Whether `kept` may still start a client: it is the present, or it is
    /// large, and the ring holds every event after it, and not many.
    fn may_reuse(&self, kept: &KeptSnapshot) -> bool {
        if kept.id == self.last_event_id() {
            return true;
        }
        let behind = self.ring.len() - self.ring.partition_point(|d| d.id <= kept.id);
        kept.frame.len() >= SNAPSHOT_SHARED_FROM
            && self.can_replay_after(kept.id)
            && behind <= self.ring_size / SNAPSHOT_BEHIND
            && kept.framed_at.elapsed() < SNAPSHOT_REUSE
    }

    fn snapshot_id(&self, audience: Audience) -> Option<u64> {
        self.snapshot_frames.get(audience).map(|kept| kept.id)
    }

    fn snapshot_frame(&self, audience: Audience) -> Bytes {
        let json = match audience {
            Audience::Private => serde_json::to_string(&self.snapshot()),
            Audience::Public => serde_json::to_string(&self.public_snapshot()),
        };
        let json = json.expect("snapshots serialise");
        frame::snapshot(self.last_event_id(), &json)
    }
}

/// One counted place among the connected clients, given back on drop. The
/// exported gauge is the counter, so the cap and the metric cannot disagree.
pub(crate) struct ClientSlot(Gauge);

impl ClientSlot {
    /// A slot, and how many are taken with it.
    fn claim(clients: &Gauge, max: usize) -> Option<(ClientSlot, usize)> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        clients
            .inner()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|before| (ClientSlot(clients.clone()), before as usize + 1))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The data of a `removed` event.
fn removed_json(id: &CheckId) -> String {
    serde_json::to_string(&Removed { id: id.clone() }).expect("Removed serialises")
}

fn first_event_id() -> u64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    micros.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{CheckKind, Health};
    use Audience::{Private, Public};

    fn status(id: &str, detail: &str) -> CheckStatus {
        CheckStatus {
            maintenance_until_ms: None,
            id: CheckId(id.into()),
            name: id.into(),
            group: "g".into(),
            kind: CheckKind::Host,
            health: Health::Up,
            latency_ms: Some(1.0),
            detail: detail.into(),
            checked_at_ms: 1,
        }
    }

    /// A result of a registered check, as the engine publishes it.
    fn published(hub: &Hub, status: CheckStatus) -> u64 {
        hub.register(status.clone(), Publicity::Private);
        hub.publish(status).expect("registered")
    }

    /// Every frame of a replay, read piece by piece as a stream would.
    fn replayed(hub: &Hub, start: Start) -> Vec<Bytes> {
        replayed_for(hub, start, Private)
    }

    /// `replayed`, as `audience` is sent it.
    fn replayed_for(hub: &Hub, start: Start, audience: Audience) -> Vec<Bytes> {
        let Start::Replay {
            mut after, until, ..
        } = start
        else {
            panic!("expected a replay");
        };
        let mut frames = Vec::new();
        while after < until {
            let (piece, last) = hub
                .replay_piece(after, until, 1, audience)
                .expect("still in the ring");
            // A budget of one byte still takes one frame, unless every
            // event left is one this audience does not get.
            assert!(piece.len() == 1 || (piece.is_empty() && last == until));
            frames.extend(piece);
            after = last;
        }
        frames
    }

    /// An incident naming a public and a private check, by a user.
    fn incident_naming(public: &str, private: &str) -> IncidentsNotice {
        use crate::status::{Incident, IncidentStatus, IncidentUpdate};
        IncidentsNotice {
            incidents: vec![Incident {
                id: 1,
                title: "Slow".into(),
                checks: vec![CheckId(public.into()), CheckId(private.into())],
                opened_ms: 5,
                earlier_updates: 0,
                updates: vec![IncidentUpdate {
                    at_ms: 5,
                    status: IncidentStatus::Investigating,
                    message: "Looking".into(),
                    by: Some("ada".into()),
                }],
            }],
        }
    }

    /// Ids of a cluster's log, from some moment on.
    const BASE: u64 = 1_764_700_000_000 * ids::PER_MILLISECOND;

    #[test]
    fn a_client_resuming_on_a_replica_is_first_told_its_own_notices_as_its_audience_may_read_them()
    {
        let hub = Hub::new(8, 10, Metrics::new());
        hub.register(status("web", "up"), Publicity::Public { detail: None });
        hub.register(status("vault", "up"), Publicity::Private);
        hub.set_incidents(incident_naming("web", "vault"));
        hub.set_config(ConfigNotice {
            source: "/etc/pulse/private.toml".into(),
            error: Some("private.toml:3:1: bad".into()),
            checked_at_ms: 5,
            differs: None,
        });
        hub.begin_epoch(BASE);
        hub.publish_shared(BASE + 1, status("web", "a"), false);
        let own = |audience| match hub.subscribe_from(Some(BASE + 1), audience).unwrap().start {
            Start::Replay {
                first: Some(own), ..
            } => String::from_utf8_lossy(&own).into_owned(),
            other => panic!("{other:?}"),
        };
        let public = own(Public);
        assert!(public.starts_with("event: incidents\n"), "{public}");
        assert_eq!(public.matches("event:").count(), 1, "{public}");
        for private in ["vault", "ada", "private.toml", "id:"] {
            assert!(!public.contains(private), "{private} in {public}");
        }
        let private = own(Private);
        for told in [
            "event: config",
            "private.toml",
            "event: history",
            "vault",
            "ada",
        ] {
            assert!(private.contains(told), "{told} not in {private}");
        }
        assert!(!private.contains("id:"), "{private}");
    }

    // On tokio's paused clock: time moves only when every task waits on
    // a timer, so how long a wait took is exact, however busy the machine.
    #[tokio::test(start_paused = true)]
    async fn a_replica_waits_a_moment_for_an_id_a_client_read_on_one_ahead_of_it() {
        let hub = Hub::new(8, 10, Metrics::new());
        hub.register(status("web", "up"), Publicity::Private);
        hub.begin_epoch(BASE);
        hub.publish_shared(BASE + 1, status("web", "a"), false);
        let ahead = BASE + 2;
        let follower = hub.clone();
        let follows = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            follower.publish_shared(ahead, status("web", "b"), false);
        });
        let asked = tokio::time::Instant::now();
        hub.until_caught_up(Some(ahead)).await;
        // Until the follower had it, not the whole CATCH_UP.
        assert_eq!(asked.elapsed(), std::time::Duration::from_millis(100));
        let start = hub.subscribe_from(Some(ahead), Private).unwrap().start;
        assert!(matches!(start, Start::Replay { .. }), "{start:?}");
        follows.await.unwrap();

        // An id an hour ahead is no id of the log's: a snapshot at once.
        let far = ahead + 3_600_000 * ids::PER_MILLISECOND;
        let asked = tokio::time::Instant::now();
        hub.until_caught_up(Some(far)).await;
        assert_eq!(asked.elapsed(), std::time::Duration::ZERO);
        let start = hub.subscribe_from(Some(far), Private).unwrap().start;
        assert!(matches!(start, Start::Snapshot(_)), "{start:?}");
    }

    #[test]
    fn the_public_reads_an_incident_naming_only_checks_public_now() {
        let hub = Hub::new(8, 10, Metrics::new());
        let public = Publicity::Public { detail: None };
        hub.register(status("web", "up"), public.clone());
        hub.register(status("vault", "up"), Publicity::Private);
        hub.set_incidents(incident_naming("web", "vault"));
        let named = |hub: &Hub| hub.public_snapshot().incidents.incidents[0].checks.clone();
        assert_eq!(named(&hub), [CheckId("web".into())]);
        assert_eq!(
            hub.public_snapshot().incidents.incidents[0].updates[0].by,
            None
        );
        assert_eq!(hub.snapshot().incidents.incidents[0].checks.len(), 2);

        // Made private by a reload: the public stream is told again at once.
        let mut live = hub.subscribe_from(None, Public).unwrap().live;
        hub.set_publicity(&CheckId("web".into()), Publicity::Private);
        assert!(named(&hub).is_empty());
        let frames: Vec<String> = std::iter::from_fn(|| live.try_recv().ok())
            .filter_map(|d| d.public.map(|f| String::from_utf8_lossy(&f).into_owned()))
            .collect();
        let told = frames
            .iter()
            .find(|f| f.starts_with("event: incidents"))
            .expect("told");
        assert!(told.contains("\"checks\":[]"), "{told}");
    }

    #[test]
    fn replays_exactly_the_missed_events() {
        let hub = Hub::new(8, 10, Metrics::new());
        let first = published(&hub, status("a", "1"));
        let second = published(&hub, status("a", "2"));
        let third = published(&hub, status("b", "3"));
        assert_eq!((second, third), (first + 1, first + 2));

        let frames = replayed(
            &hub,
            hub.subscribe_from(Some(first), Private).unwrap().start,
        );
        assert_eq!(frames.len(), 2);
        assert!(frames[0].starts_with(format!("id: {second}\n").as_bytes()));
        assert!(frames[1].starts_with(format!("id: {third}\n").as_bytes()));
        assert!(
            replayed(
                &hub,
                hub.subscribe_from(Some(third), Private).unwrap().start
            )
            .is_empty()
        );
    }

    #[test]
    fn ids_outside_the_ring_get_a_snapshot() {
        let hub = Hub::new(2, 10, Metrics::new());
        let before_first = published(&hub, status("a", "0"));
        let first = published(&hub, status("a", "1"));
        published(&hub, status("a", "2"));
        let last = published(&hub, status("a", "3"));
        // The ring (size 2) holds the last two events: a client that saw
        // `first` missed only those and is replayed; an older id is not.
        assert_eq!(
            replayed(
                &hub,
                hub.subscribe_from(Some(first), Private).unwrap().start
            )
            .len(),
            2
        );
        for id in [before_first, last + 1, 0, u64::MAX] {
            let start = hub.subscribe_from(Some(id), Private).unwrap().start;
            assert!(
                matches!(start, Start::Snapshot(_)),
                "id {id} must not replay"
            );
        }
    }

    #[test]
    fn snapshot_keeps_registration_order_and_latest_values() {
        let hub = Hub::new(4, 10, Metrics::new());
        hub.register(status("b", "pending"), Publicity::Private);
        hub.register(status("a", "pending"), Publicity::Private);
        let id = published(&hub, status("b", "fresh"));
        let snapshot = hub.snapshot();
        assert_eq!(snapshot.last_event_id, id);
        let details: Vec<_> = snapshot.checks.iter().map(|s| s.detail.as_str()).collect();
        assert_eq!(details, ["fresh", "pending"]);
    }

    #[test]
    fn removing_a_check_is_an_event_and_late_results_are_dropped() {
        let hub = Hub::new(8, 10, Metrics::new());
        for id in ["a", "b", "c"] {
            hub.register(status(id, "pending"), Publicity::Private);
        }
        let before = published(&hub, status("b", "x"));
        hub.remove(&CheckId("a".into()));
        hub.remove(&CheckId("a".into()));
        let frames = replayed(
            &hub,
            hub.subscribe_from(Some(before), Private).unwrap().start,
        );
        assert_eq!(frames.len(), 1, "a second removal sends nothing");
        let text = String::from_utf8(frames[0].to_vec()).unwrap();
        assert!(text.starts_with("event: removed\n"), "{text}");
        assert!(text.contains("data: {\"id\":\"a\"}"), "{text}");
        assert_eq!(hub.publish(status("a", "late")), None);
        // The index still finds the checks after the removed one.
        published(&hub, status("c", "fresh"));
        let details: Vec<_> = hub
            .snapshot()
            .checks
            .iter()
            .map(|s| (s.id.0.clone(), s.detail.clone()))
            .collect();
        assert_eq!(
            details,
            [("b".into(), "x".into()), ("c".into(), "fresh".into())]
        );
    }

    #[test]
    fn the_config_notice_is_an_event_and_in_every_snapshot() {
        let hub = Hub::new(8, 10, Metrics::new());
        let notice = ConfigNotice {
            source: "pulse.toml".into(),
            error: Some("pulse.toml:3:1: bad".into()),
            checked_at_ms: 5,
            differs: None,
        };
        hub.set_config(notice.clone());
        assert_eq!(hub.snapshot().config, notice);
        let frames = replayed(
            &hub,
            hub.subscribe_from(Some(hub.snapshot().last_event_id - 1), Private)
                .unwrap()
                .start,
        );
        assert!(frames[0].starts_with(b"event: config\n"));
    }

    #[test]
    fn client_slots_are_capped_and_released_on_drop() {
        let hub = Hub::new(4, 2, Metrics::new());
        let one = hub.subscribe_from(None, Private).unwrap();
        let _two = hub.subscribe_from(None, Private).unwrap();
        assert_eq!(
            hub.subscribe_from(None, Private).err(),
            Some(AtCapacity { max_clients: 2 })
        );
        drop(one);
        assert_eq!(hub.connected_clients(), 1);
        assert!(hub.subscribe_from(None, Private).is_ok());
    }

    #[test]
    fn ids_of_a_later_hub_are_larger() {
        let earlier = Hub::new(4, 1, Metrics::new());
        let last_of_earlier = published(&earlier, status("a", "x"));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = Hub::new(4, 1, Metrics::new());
        assert!(later.snapshot().last_event_id > last_of_earlier);
    }

    const SECRET: &str = "secret-marker";

    /// A hub with a private check `p` (its detail holds `SECRET`) and a
    /// public check `o` whose public detail is "all fine".
    fn mixed_hub() -> Arc<Hub> {
        let hub = Hub::new(16, 10, Metrics::new());
        hub.register(status("p", SECRET), Publicity::Private);
        let shown = Publicity::Public {
            detail: Some("all fine".into()),
        };
        hub.register(status("o", "pending"), shown);
        hub
    }

    fn text(frames: &[Bytes]) -> String {
        frames
            .iter()
            .map(|f| String::from_utf8(f.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_public_client_never_gets_a_private_frame() {
        let hub = mixed_hub();
        let before = hub.snapshot().last_event_id;
        let mut live = hub.subscribe_from(None, Public).unwrap();
        let Start::Snapshot(snapshot) = &live.start else {
            panic!("no id: a snapshot")
        };
        let snapshot = text(std::slice::from_ref(snapshot));
        assert!(snapshot.contains("\"o\"") && snapshot.contains("all fine"));
        assert!(!snapshot.contains(SECRET) && !snapshot.contains("\"p\""));

        hub.publish(status("p", SECRET)).unwrap();
        hub.publish(status("o", &format!("live {SECRET}"))).unwrap();
        hub.set_config(ConfigNotice::default());
        hub.remove(&CheckId("p".into()));
        let mut received = Vec::new();
        while let Ok(delivery) = live.live.try_recv() {
            received.extend(delivery.frame_for(Public).cloned());
        }
        assert_eq!(received.len(), 1, "only the public check's result");
        let replay = replayed_for(
            &hub,
            hub.subscribe_from(Some(before), Public).unwrap().start,
            Public,
        );
        assert_eq!(replay, received, "live and replay agree");
        let sent = text(&received);
        assert!(sent.contains("\"detail\":\"all fine\""), "{sent}");
        assert!(
            !sent.contains(SECRET) && !sent.contains("\"kind\""),
            "{sent}"
        );
        let all = serde_json::to_string(&hub.public_snapshot()).unwrap();
        assert!(!all.contains(SECRET), "{all}");
    }

    #[test]
    fn a_public_replay_across_private_ids_is_exact() {
        let hub = mixed_hub();
        let start = hub.snapshot().last_event_id;
        let mut public_ids = Vec::new();
        for n in 0..5 {
            hub.publish(status("p", SECRET)).unwrap();
            hub.publish(status("p", SECRET)).unwrap();
            public_ids.push(hub.publish(status("o", &n.to_string())).unwrap());
        }
        hub.publish(status("p", SECRET)).unwrap();
        // From every point, public or private id: exactly the public events
        // after it, in order, none twice.
        for after in start..=hub.snapshot().last_event_id {
            let frames = replayed_for(
                &hub,
                hub.subscribe_from(Some(after), Public).unwrap().start,
                Public,
            );
            let ids: Vec<u64> = frames
                .iter()
                .map(|f| {
                    let f = std::str::from_utf8(f).unwrap();
                    f["id: ".len()..f.find('\n').unwrap()].parse().unwrap()
                })
                .collect();
            let wanted: Vec<u64> = public_ids
                .iter()
                .copied()
                .filter(|&id| id > after)
                .collect();
            assert_eq!(ids, wanted, "after {after}");
        }
    }

    #[test]
    fn turning_public_or_private_tells_both_audiences() {
        let hub = mixed_hub();
        let before = hub.snapshot().last_event_id;
        hub.set_publicity(&CheckId("o".into()), Publicity::Private);
        hub.set_publicity(&CheckId("o".into()), Publicity::Private);
        let public = replayed_for(
            &hub,
            hub.subscribe_from(Some(before), Public).unwrap().start,
            Public,
        );
        assert_eq!(public.len(), 1, "a second, equal change sends nothing");
        assert!(text(&public).starts_with("event: removed\n"));
        let private = replayed(
            &hub,
            hub.subscribe_from(Some(before), Private).unwrap().start,
        );
        assert!(
            text(&private).contains("\"detail\":\"pending\""),
            "the status again"
        );
        assert!(hub.public_snapshot().checks.is_empty());

        let before = hub.snapshot().last_event_id;
        hub.set_publicity(&CheckId("p".into()), Publicity::Public { detail: None });
        let public = replayed_for(
            &hub,
            hub.subscribe_from(Some(before), Public).unwrap().start,
            Public,
        );
        let public = text(&public);
        assert!(public.contains("\"id\":\"p\"") && public.contains("\"detail\":null"));
        assert!(!public.contains(SECRET), "{public}");
        assert_eq!(hub.public_snapshot().checks.len(), 1);
    }
}
