//! One stream for every tab of a browser.
//!
//! A browser keeps at most six HTTP/1.1 connections per host, and an
//! EventSource holds one for as long as the page is open: a seventh tab
//! would never load. So the tabs of one origin that follow the same stream
//! elect a leader through the Web Locks API (a lock per stream path, held
//! until the tab closes, navigates away, is frozen or goes into the
//! back/forward cache); only the leader opens the stream, and it relays
//! each event, unparsed, over a BroadcastChannel. When it goes, the browser
//! hands the lock to the next waiting tab at once, which resumes the stream
//! after the last id it applied: the server replays what came since.
//!
//! Every tab applies an event only if its id is newer than the last it
//! applied, so an event relayed by the old leader and replayed to the new
//! one is applied once. A tab that opens asks the leader for what came after
//! the id its page was rendered at; if the leader no longer has all of it,
//! the tab fetches a snapshot. Where Web Locks or BroadcastChannel are
//! missing, each tab keeps its own EventSource.

use super::event_source::{Receiver, Source};
use super::relay::{Note, Raw, Recent};
use super::{Connection, Feed};
use crate::status::Event;
use crate::status::{
    AlertNotice, ConfigNotice, HistoryNotice, IncidentsNotice, NotifiersNotice, Removed,
};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

/// Retrying this long without an open stream turns "reconnecting" into "offline".
const OFFLINE_AFTER_MS: u64 = 30_000;
/// A leader says how it is once a second; this long without a word, it is
/// gone (frozen, or killed without releasing anything).
const LEADER_SILENT_MS: u64 = 2_500;
/// A tab that asked what it missed and heard nothing asks again after this.
const ASK_AGAIN_MS: u64 = 1_000;

pub fn follow<F: Feed>(feed: F) {
    // Effects run only in the browser and only after hydration, so the first
    // client render equals the server's HTML before any event changes it.
    Effect::new(move |_| {
        let tab = Tab::start(feed);
        let clock = start_clock(Rc::downgrade(&tab));
        let handle = SendWrapper::new((tab, clock));
        on_cleanup(move || {
            let (tab, clock) = handle.take();
            clock.clear();
            tab.stop();
        });
    });
}

struct Tab<F: Feed> {
    feed: F,
    /// This tab's name on the channel, for answers meant for it alone.
    me: u64,
    /// The newest event id applied; events up to it are ignored.
    last_id: Cell<Option<u64>>,
    recent: RefCell<Recent>,
    /// The stream, while this tab leads (or when it is alone).
    source: RefCell<Option<Source>>,
    /// The channel to the other tabs; `None` for a tab on its own.
    channel: RefCell<Option<Channel>>,
    behind: RefCell<Behind>,
    /// Resolves the promise that holds the lock, releasing it.
    release: RefCell<Option<js_sys::Function>>,
    /// A request for the lock is waiting.
    seeking: Cell<bool>,
    heard_at_ms: Cell<u64>,
    lost_since_ms: Cell<Option<u64>>,
    /// Frozen or in the back/forward cache: no stream, no lock.
    paused: Cell<bool>,
    stopped: Cell<bool>,
    lifecycle: RefCell<Vec<PageListener>>,
}

/// Whether this tab may be missing events the others have.
enum Behind {
    No,
    /// It asked the leader what it missed and keeps what arrives meanwhile.
    Asking {
        at_ms: u64,
        held: Vec<Raw>,
    },
    /// The leader no longer had it: a snapshot is on its way.
    Fetching {
        held: Vec<Raw>,
    },
}

impl<F: Feed> Tab<F> {
    fn start(feed: F) -> Rc<Tab<F>> {
        let rendered_at = feed.link().rendered_at;
        let tab = Rc::new(Tab {
            feed,
            me: (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64,
            last_id: Cell::new(rendered_at),
            recent: RefCell::new(Recent::new(rendered_at)),
            source: RefCell::new(None),
            channel: RefCell::new(None),
            behind: RefCell::new(Behind::No),
            release: RefCell::new(None),
            seeking: Cell::new(false),
            heard_at_ms: Cell::new(now_ms()),
            lost_since_ms: Cell::new(None),
            paused: Cell::new(false),
            stopped: Cell::new(false),
            lifecycle: RefCell::new(Vec::new()),
        });
        match (locks(), Channel::open(F::PATH, Rc::downgrade(&tab))) {
            (Some(locks), Some(channel)) => {
                *tab.channel.borrow_mut() = Some(channel);
                tab.catch_up();
                tab.seek_lead(&locks);
                tab.watch_lifecycle();
            }
            _ => tab.lead(),
        }
        tab
    }

    /// Asks the leader for every event after the last one this tab has.
    fn catch_up(&self) {
        let held = match self.behind.replace(Behind::No) {
            Behind::Asking { held, .. } | Behind::Fetching { held } => held,
            Behind::No => Vec::new(),
        };
        self.behind.replace(Behind::Asking {
            at_ms: now_ms(),
            held,
        });
        self.post(&Note::Hello {
            from: self.me,
            since: self.last_id.get(),
        });
    }

    fn seek_lead(self: &Rc<Self>, locks: &Locks) {
        if self.seeking.replace(true) {
            return;
        }
        let weak = Rc::downgrade(self);
        let granted = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
            let Some(tab) = weak.upgrade() else {
                return js_sys::Promise::resolve(&JsValue::UNDEFINED);
            };
            tab.seeking.set(false);
            // The lock is held until this promise settles.
            let held = js_sys::Promise::new(&mut |resolve, _reject| {
                *tab.release.borrow_mut() = Some(resolve);
            });
            if tab.stopped.get() || tab.paused.get() {
                tab.let_go();
            } else {
                tab.lead();
            }
            held
        });
        // Its promise settles when the lock is released: nothing to wait for.
        let _ = locks.request(&lock_name(F::PATH), granted.unchecked_ref());
    }

    /// Opens the stream, resuming after the last event this tab applied.
    fn lead(self: &Rc<Self>) {
        self.release_held();
        let receiver: Weak<dyn Receiver> = Rc::downgrade(self) as Weak<dyn Receiver>;
        *self.source.borrow_mut() = Some(Source::open(F::PATH, receiver));
    }

    fn leads(&self) -> bool {
        self.source.borrow().is_some()
    }

    /// Closes the stream and gives the lock to the next tab.
    fn let_go(&self) {
        self.source.borrow_mut().take();
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }

    /// Applies what arrived while this tab was catching up, and stops
    /// holding events back.
    fn release_held(&self) {
        let held = match self.behind.replace(Behind::No) {
            Behind::Asking { held, .. } | Behind::Fetching { held } => held,
            Behind::No => return,
        };
        for raw in held {
            self.take(raw);
        }
    }

    /// Applies an event unless this tab already has it; returns whether it did.
    fn take(&self, raw: Raw) -> bool {
        let last = self.last_id.get();
        let newer = raw.id.is_none() || raw.id > last;
        // A notice under the newest id is a cluster replica's own (its
        // config, its history's health), which takes no id of the shared
        // log: it applies, as the state it sets is whole, but it is not a
        // new event.
        let own_notice = raw.id.is_some() && raw.id == last && raw.kind != Event::Message;
        // A snapshot always applies: after a server restart it starts the
        // ids again from below what the tabs have seen.
        if !newer && !own_notice && raw.kind != Event::Snapshot {
            return false;
        }
        if raw.id.is_some() {
            self.last_id.set(raw.id);
        }
        self.apply(&raw, newer);
        self.recent.borrow_mut().push(&raw);
        true
    }

    /// `counted`: a new event, for the page's count of events applied.
    fn apply(&self, raw: &Raw, counted: bool) {
        let feed = &self.feed;
        let parsed = match raw.kind {
            Event::Message => parse(raw, |status: F::Status| feed.apply(status)),
            Event::Snapshot => parse(raw, |snapshot: F::Snapshot| feed.replace(snapshot)),
            Event::Removed => parse(raw, |removed: Removed| feed.remove(&removed.id)),
            Event::Config => parse(raw, |notice: ConfigNotice| feed.config(notice)),
            Event::History => parse(raw, |notice: HistoryNotice| feed.history(notice)),
            Event::Alert => parse(raw, |notice: AlertNotice| feed.alert(notice)),
            Event::Notifiers => parse(raw, |notice: NotifiersNotice| feed.notifiers(notice)),
            Event::Incidents => parse(raw, |notice: IncidentsNotice| feed.incidents(notice)),
            Event::Status => {
                // `Done`: the server is going away. The browser reconnects
                // by itself after the `retry:` delay; until then the page says so.
                if raw.data == "Done" {
                    self.show(Connection::Reconnecting);
                }
                return;
            }
        };
        if !parsed {
            return;
        }
        let link = feed.link();
        link.last_event_at_ms.set(Some(now_ms()));
        link.last_event_id.set(raw.id);
        if counted && raw.kind != Event::Snapshot {
            link.events.update(|n| *n += 1);
        }
        if self.leads() && link.connection.get_untracked() != Connection::Live {
            self.show(Connection::Live);
        }
    }

    /// Shows the stream's state in this tab and, from the leader, in the others.
    fn show(&self, connection: Connection) {
        if connection == Connection::Live {
            self.lost_since_ms.set(None);
        } else if self.lost_since_ms.get().is_none() {
            self.lost_since_ms.set(Some(now_ms()));
        }
        let shown = self.feed.link().connection;
        if shown.get_untracked() != connection {
            shown.set(connection);
        }
        if self.leads() {
            self.post(&Note::State(connection));
        }
    }

    fn heard(self: &Rc<Self>, note: Note) {
        match note {
            Note::Event(raw) => self.heard_event(raw),
            Note::State(connection) if !self.leads() => {
                self.heard_at_ms.set(now_ms());
                self.show(connection);
            }
            Note::State(_) => {}
            Note::Hello { from, since } if self.leads() => {
                let answer = match self.recent.borrow().after(since) {
                    Some(events) => Note::CatchUp { to: from, events },
                    None => Note::TooOld { to: from },
                };
                self.post(&answer);
            }
            Note::Hello { .. } => {}
            Note::CatchUp { to, events } if to == self.me => {
                if matches!(*self.behind.borrow(), Behind::Asking { .. }) {
                    for raw in events {
                        self.take(raw);
                    }
                    self.release_held();
                }
            }
            Note::TooOld { to } if to == self.me => self.fetch_snapshot(),
            Note::CatchUp { .. } | Note::TooOld { .. } => {}
        }
    }

    /// An event relayed by the leader (or, just after a handover, by the
    /// one before it).
    fn heard_event(&self, raw: Raw) {
        self.heard_at_ms.set(now_ms());
        match &mut *self.behind.borrow_mut() {
            Behind::Asking { held, .. } | Behind::Fetching { held } => {
                held.push(raw);
                return;
            }
            Behind::No => {}
        }
        self.take(raw);
    }

    fn fetch_snapshot(self: &Rc<Self>) {
        let held = match self.behind.replace(Behind::No) {
            Behind::Asking { held, .. } => held,
            other => {
                self.behind.replace(other);
                return;
            }
        };
        self.behind.replace(Behind::Fetching { held });
        let weak = Rc::downgrade(self);
        leptos::task::spawn_local(async move {
            let snapshot = fetch_snapshot(F::SNAPSHOT_PATH).await;
            let Some(tab) = weak.upgrade() else { return };
            if !matches!(*tab.behind.borrow(), Behind::Fetching { .. }) {
                return; // it became the leader meanwhile
            }
            match snapshot {
                Some(raw) => {
                    tab.take(raw);
                    tab.release_held();
                }
                // Asked again on the next tick.
                None => tab.catch_up(),
            }
        });
    }

    fn post(&self, note: &Note) {
        if let Some(channel) = &*self.channel.borrow() {
            channel.post(note);
        }
    }

    /// Once a second: the clock for "… ago", the leader's word to the
    /// others, and "offline" after a long loss.
    fn tick(&self) {
        let now = now_ms();
        self.feed.tick(now);
        let connection = self.feed.link().connection.get_untracked();
        if self.leads() {
            self.post(&Note::State(connection));
        } else if self.channel.borrow().is_some() {
            let silent = now.saturating_sub(self.heard_at_ms.get()) >= LEADER_SILENT_MS;
            if silent && connection == Connection::Live {
                self.show(Connection::Reconnecting);
            }
            let unanswered = matches!(*self.behind.borrow(),
                Behind::Asking { at_ms, .. } if now.saturating_sub(at_ms) >= ASK_AGAIN_MS);
            if unanswered {
                self.catch_up();
            }
        }
        let long_lost = self
            .lost_since_ms
            .get()
            .is_some_and(|since| now.saturating_sub(since) >= OFFLINE_AFTER_MS);
        if long_lost && connection == Connection::Reconnecting {
            self.show(Connection::Offline);
        }
    }

    /// Frozen, or into the back/forward cache: the next tab leads.
    fn pause(&self) {
        self.paused.set(true);
        self.let_go();
    }

    /// Back: catch up on what the channel said meanwhile, and queue for
    /// the lock again.
    fn resume(self: &Rc<Self>) {
        if !self.paused.replace(false) {
            return;
        }
        self.heard_at_ms.set(now_ms());
        self.catch_up();
        if let Some(locks) = locks() {
            self.seek_lead(&locks);
        }
    }

    fn watch_lifecycle(self: &Rc<Self>) {
        let window = window();
        let document = document();
        let mut listeners = self.lifecycle.borrow_mut();
        listeners.push(PageListener::new(
            window.as_ref(),
            "pagehide",
            self,
            |tab| tab.pause(),
        ));
        listeners.push(PageListener::new(
            window.as_ref(),
            "pageshow",
            self,
            |tab| tab.resume(),
        ));
        listeners.push(PageListener::new(
            document.as_ref(),
            "freeze",
            self,
            |tab| tab.pause(),
        ));
        listeners.push(PageListener::new(
            document.as_ref(),
            "resume",
            self,
            |tab| tab.resume(),
        ));
    }

    fn stop(&self) {
        self.stopped.set(true);
        self.let_go();
        self.channel.borrow_mut().take();
        self.lifecycle.borrow_mut().clear();
    }
}

impl<F: Feed> Receiver for Tab<F> {
    fn received(&self, raw: Raw) {
        let relayed = raw.clone();
        if self.take(raw) {
            self.post(&Note::Event(relayed));
        }
    }

    fn opened(&self) {
        self.show(Connection::Live);
    }

    fn lost(&self) {
        self.show(Connection::Reconnecting);
    }

    fn last_id(&self) -> Option<u64> {
        self.last_id.get()
    }
}

/// The BroadcastChannel of one stream, with its listener.
struct Channel {
    channel: BroadcastChannel,
    _listener: Closure<dyn FnMut(MessageEvent)>,
}

impl Channel {
    fn open<F: Feed>(path: &str, tab: Weak<Tab<F>>) -> Option<Channel> {
        let channel = BroadcastChannel::new(&lock_name(path)).ok()?;
        let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
            let Some(tab) = tab.upgrade() else { return };
            let note = message
                .data()
                .as_string()
                .and_then(|text| serde_json::from_str(&text).ok());
            match note {
                Some(note) => tab.heard(note),
                None => leptos::logging::warn!("ignoring a message from another tab"),
            }
        });
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        Some(Channel {
            channel,
            _listener: listener,
        })
    }

    fn post(&self, note: &Note) {
        if let Ok(text) = serde_json::to_string(note) {
            let _ = self.channel.post_message(&JsValue::from_str(&text));
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

/// A listener on the window or document, removed when dropped.
struct PageListener {
    target: web_sys::EventTarget,
    name: &'static str,
    listener: Closure<dyn FnMut(web_sys::Event)>,
}

impl PageListener {
    fn new<F: Feed>(
        target: &web_sys::EventTarget,
        name: &'static str,
        tab: &Rc<Tab<F>>,
        on_event: fn(&Rc<Tab<F>>),
    ) -> PageListener {
        let weak = Rc::downgrade(tab);
        let listener = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            if let Some(tab) = weak.upgrade() {
                on_event(&tab);
            }
        });
        let _ = target.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
        PageListener {
            target: target.clone(),
            name,
            listener,
        }
    }
}

impl Drop for PageListener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.name, self.listener.as_ref().unchecked_ref());
    }
}

#[wasm_bindgen]
extern "C" {
    /// The Web Locks API's `navigator.locks` (bound here: web-sys has it
    /// only behind its unstable-API flag).
    type Locks;

    #[wasm_bindgen(method)]
    fn request(this: &Locks, name: &str, granted: &js_sys::Function) -> js_sys::Promise;
}

fn locks() -> Option<Locks> {
    let locks = js_sys::Reflect::get(&window().navigator(), &JsValue::from_str("locks")).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}

fn lock_name(path: &str) -> String {
    format!("pulse {path}")
}

/// The stream's snapshot over plain HTTP, as the event that would carry it.
async fn fetch_snapshot(path: &str) -> Option<Raw> {
    #[derive(serde::Deserialize)]
    struct Head {
        last_event_id: u64,
    }
    let response = wasm_bindgen_futures::JsFuture::from(window().fetch_with_str(path))
        .await
        .ok()?
        .dyn_into::<web_sys::Response>()
        .ok()?;
    if !response.ok() {
        return None;
    }
    let text = wasm_bindgen_futures::JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    let head: Head = serde_json::from_str(&text).ok()?;
    Some(Raw {
        kind: Event::Snapshot,
        data: text,
        id: Some(head.last_event_id),
    })
}

/// Parses the event's payload and hands it to the page; an event that does
/// not parse is logged and ignored.
fn parse<T: serde::de::DeserializeOwned>(raw: &Raw, to_feed: impl FnOnce(T)) -> bool {
    match serde_json::from_str(&raw.data) {
        Ok(value) => {
            to_feed(value);
            true
        }
        Err(error) => {
            leptos::logging::warn!("ignoring an event that does not parse: {error}");
            false
        }
    }
}

fn start_clock<F: Feed>(tab: Weak<Tab<F>>) -> IntervalHandle {
    let tick = move || {
        if let Some(tab) = tab.upgrade() {
            tab.tick();
        }
    };
    tick();
    set_interval_with_handle(tick, Duration::from_secs(1)).expect("setInterval is available")
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
