//! The browser's end of the stream: one EventSource that feeds a `Feed`
//! (the dashboard's board, or the public status page's).
//!
//! The browser reconnects an EventSource by itself after a network error,
//! sending `Last-Event-ID` so the server replays what was missed. It gives up
//! for good after any non-200 answer (a 503 during a deploy, say) and leaves
//! the source CLOSED; from then on this module reconnects with jittered,
//! doubling backoff, passing the last id as `?lastEventId=`.

use super::{Connection, Feed};
use crate::status::{ConfigNotice, HistoryNotice, Removed};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

/// Retrying this long without an open stream turns "reconnecting" into "offline".
const OFFLINE_AFTER_MS: u64 = 30_000;
const BACKOFF_FIRST_MS: f64 = 1_000.0;
const BACKOFF_MAX_MS: f64 = 30_000.0;

pub fn follow<F: Feed>(feed: F) {
    // Effects run only in the browser and only after hydration, so the first
    // client render equals the server's HTML before any event changes it.
    Effect::new(move |_| {
        let follower = Rc::new(Follower {
            feed,
            open: RefCell::new(None),
            failures: Cell::new(0),
            last_event_id: RefCell::new(None),
            lost_since_ms: Cell::new(None),
            stopped: Cell::new(false),
        });
        follower.connect();
        let clock = start_clock(Rc::downgrade(&follower));
        let handle = SendWrapper::new((follower, clock));
        on_cleanup(move || {
            let (follower, clock) = handle.take();
            clock.clear();
            follower.stop();
        });
    });
}

struct Follower<F: Feed> {
    feed: F,
    open: RefCell<Option<OpenSource>>,
    /// Consecutive times the source was closed for good; sets the backoff.
    failures: Cell<u32>,
    last_event_id: RefCell<Option<String>>,
    lost_since_ms: Cell<Option<u64>>,
    stopped: Cell<bool>,
}

/// An EventSource with the listeners that must live as long as it does.
struct OpenSource {
    source: EventSource,
    _listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

impl Drop for OpenSource {
    fn drop(&mut self) {
        self.source.close();
    }
}

impl<F: Feed> Follower<F> {
    fn connect(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        let url = match self.last_event_id.borrow().as_deref() {
            Some(id) => format!("{}?lastEventId={id}", F::PATH),
            None => F::PATH.to_string(),
        };
        let Ok(source) = EventSource::new(&url) else {
            self.retry_later();
            return;
        };
        let listeners = vec![
            self.listen(&source, "open", |this, _| this.opened()),
            self.listen(&source, "error", |this, _| this.errored()),
            self.listen(&source, "message", |this, event| this.message(event)),
            self.listen(&source, "snapshot", |this, event| this.snapshot(event)),
            self.listen(&source, "status", |this, event| this.status(event)),
            self.listen(&source, "removed", |this, event| this.removed(event)),
            self.listen(&source, "config", |this, event| this.config(event)),
            self.listen(&source, "history", |this, event| this.history(event)),
        ];
        *self.open.borrow_mut() = Some(OpenSource {
            source,
            _listeners: listeners,
        });
    }

    /// Registers a listener that holds the follower weakly: the follower owns
    /// the source, the source owns the listener, so a strong reference would
    /// be a cycle that outlives the page's cleanup.
    fn listen(
        self: &Rc<Self>,
        source: &EventSource,
        name: &str,
        on_event: fn(&Rc<Follower<F>>, &web_sys::Event),
    ) -> Closure<dyn FnMut(web_sys::Event)> {
        let weak = Rc::downgrade(self);
        let listener = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            if let Some(this) = weak.upgrade() {
                on_event(&this, &event);
            }
        });
        let _ = source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
        listener
    }

    fn opened(&self) {
        self.failures.set(0);
        self.lost_since_ms.set(None);
        self.feed.link().connection.set(Connection::Live);
    }

    fn errored(self: &Rc<Self>) {
        self.mark_lost();
        let closed = self
            .open
            .borrow()
            .as_ref()
            .is_some_and(|open| open.source.ready_state() == EventSource::CLOSED);
        if closed {
            // The browser will not retry this one: drop it and retry ourselves.
            self.open.borrow_mut().take();
            self.retry_later();
        }
    }

    fn message(&self, event: &web_sys::Event) {
        self.take(event, |feed, status: F::Status| feed.apply(status));
    }

    fn snapshot(&self, event: &web_sys::Event) {
        self.take(event, |feed, snapshot: F::Snapshot| feed.replace(snapshot));
    }

    fn removed(&self, event: &web_sys::Event) {
        self.take(event, |feed, removed: Removed| feed.remove(&removed.id));
    }

    fn config(&self, event: &web_sys::Event) {
        self.take(event, |feed, notice: ConfigNotice| feed.config(notice));
    }

    fn history(&self, event: &web_sys::Event) {
        self.take(event, |feed, notice: HistoryNotice| feed.history(notice));
    }

    /// Parses the event's payload and hands it to the feed; an event that
    /// does not parse is logged and ignored.
    fn take<T: serde::de::DeserializeOwned>(
        &self,
        event: &web_sys::Event,
        to_feed: impl FnOnce(&F, T),
    ) {
        let Some((event, payload)) = parse::<T>(event) else {
            return;
        };
        self.note_event(event);
        to_feed(&self.feed, payload);
    }

    /// `Done`: the server is going away. The browser reconnects by itself
    /// after the `retry:` delay; until then the page says so.
    fn status(&self, event: &web_sys::Event) {
        let data = event
            .dyn_ref::<MessageEvent>()
            .and_then(|m| m.data().as_string());
        if data.as_deref() == Some("Done") {
            self.mark_lost();
        }
    }

    fn note_event(&self, event: &MessageEvent) {
        let id = event.last_event_id();
        if !id.is_empty() {
            *self.last_event_id.borrow_mut() = Some(id);
        }
        self.feed.link().last_event_at_ms.set(Some(now_ms()));
        if self.feed.link().connection.get_untracked() != Connection::Live {
            self.opened();
        }
    }

    fn mark_lost(&self) {
        if self.lost_since_ms.get().is_none() {
            self.lost_since_ms.set(Some(now_ms()));
        }
        self.feed.link().connection.set(Connection::Reconnecting);
    }

    fn retry_later(self: &Rc<Self>) {
        let failures = self.failures.get();
        self.failures.set(failures.saturating_add(1));
        let doubled = BACKOFF_FIRST_MS * 2f64.powi(failures.min(16) as i32);
        // Full jitter over the upper half, so browsers refused together do
        // not come back together.
        let delay = doubled.min(BACKOFF_MAX_MS) * (0.5 + js_sys::Math::random() * 0.5);
        let weak = Rc::downgrade(self);
        set_timeout(
            move || {
                if let Some(this) = weak.upgrade() {
                    this.connect();
                }
            },
            Duration::from_millis(delay as u64),
        );
    }

    /// Once a second: the clock for "… ago", and "offline" after a long loss.
    fn tick(&self) {
        let now = now_ms();
        self.feed.tick(now);
        let long_lost = self
            .lost_since_ms
            .get()
            .is_some_and(|since| now.saturating_sub(since) >= OFFLINE_AFTER_MS);
        let connection = self.feed.link().connection;
        if long_lost && connection.get_untracked() == Connection::Reconnecting {
            connection.set(Connection::Offline);
        }
    }

    fn stop(&self) {
        self.stopped.set(true);
        self.open.borrow_mut().take();
    }
}

fn start_clock<F: Feed>(follower: Weak<Follower<F>>) -> IntervalHandle {
    let tick = move || {
        if let Some(follower) = follower.upgrade() {
            follower.tick();
        }
    };
    tick();
    set_interval_with_handle(tick, Duration::from_secs(1)).expect("setInterval is available")
}

/// The event as a message with its JSON payload, or `None` (logged) if it
/// is not one.
fn parse<T: serde::de::DeserializeOwned>(event: &web_sys::Event) -> Option<(&MessageEvent, T)> {
    let message = event.dyn_ref::<MessageEvent>()?;
    let data = message.data().as_string()?;
    match serde_json::from_str(&data) {
        Ok(value) => Some((message, value)),
        Err(error) => {
            leptos::logging::warn!("ignoring an event that does not parse: {error}");
            None
        }
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
