//! The browser's one connection to a stream: an EventSource that hands
//! each event, unparsed, to whoever holds it (the tab that leads, see
//! `tabs`), and says when it opens and when it is lost.
//!
//! The browser reconnects an EventSource by itself after a network error,
//! sending `Last-Event-ID` so the server replays what was missed. It gives up
//! for good after any non-200 answer (a 503 during a deploy, say) and leaves
//! the source CLOSED; from then on this module reconnects with jittered,
//! doubling backoff, passing the last id as `?lastEventId=`.

use super::relay::Raw;
use crate::status::Event;
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

const BACKOFF_FIRST_MS: f64 = 1_000.0;
const BACKOFF_MAX_MS: f64 = 30_000.0;

/// What a source tells the one holding it.
pub trait Receiver {
    fn received(&self, raw: Raw);
    fn opened(&self);
    fn lost(&self);
    /// The id to resume after when the source must reconnect by itself.
    fn last_id(&self) -> Option<u64>;
}

/// An open (or reconnecting) stream; closed when dropped.
pub struct Source(Rc<Inner>);

struct Inner {
    path: &'static str,
    receiver: Weak<dyn Receiver>,
    open: RefCell<Option<OpenSource>>,
    /// Consecutive times the source was closed for good; sets the backoff.
    failures: Cell<u32>,
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

impl Source {
    /// Opens `path`, resuming after the receiver's last id if it has one.
    pub fn open(path: &'static str, receiver: Weak<dyn Receiver>) -> Source {
        let inner = Rc::new(Inner {
            path,
            receiver,
            open: RefCell::new(None),
            failures: Cell::new(0),
            stopped: Cell::new(false),
        });
        inner.connect();
        Source(inner)
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.0.stopped.set(true);
        self.0.open.borrow_mut().take();
    }
}

impl Inner {
    fn connect(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        let Some(receiver) = self.receiver.upgrade() else {
            return;
        };
        let url = match receiver.last_id() {
            Some(id) => format!("{}?lastEventId={id}", self.path),
            None => self.path.to_string(),
        };
        let Ok(source) = EventSource::new(&url) else {
            self.retry_later();
            return;
        };
        let mut listeners = vec![
            self.listen(&source, "open", |this, _| this.opened()),
            self.listen(&source, "error", |this, _| this.errored()),
        ];
        for kind in Event::ALL {
            listeners.push(self.listen(&source, kind.name(), move |this, event| {
                this.received(kind, event)
            }));
        }
        *self.open.borrow_mut() = Some(OpenSource {
            source,
            _listeners: listeners,
        });
    }

    /// Registers a listener that holds the source weakly: the source owns
    /// the EventSource, which owns the listener, so a strong reference would
    /// be a cycle that outlives the page's cleanup.
    fn listen(
        self: &Rc<Self>,
        source: &EventSource,
        name: &str,
        on_event: impl Fn(&Rc<Inner>, &web_sys::Event) + 'static,
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
        if let Some(receiver) = self.receiver.upgrade() {
            receiver.opened();
        }
    }

    fn errored(self: &Rc<Self>) {
        if let Some(receiver) = self.receiver.upgrade() {
            receiver.lost();
        }
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

    fn received(&self, kind: Event, event: &web_sys::Event) {
        let Some(message) = event.dyn_ref::<MessageEvent>() else {
            return;
        };
        let Some(data) = message.data().as_string() else {
            return;
        };
        // The browser repeats the previous id on an event that has none
        // (`status`), so only events that carry ids are given one.
        let id = kind
            .has_id()
            .then(|| message.last_event_id().parse().ok())
            .flatten();
        if let Some(receiver) = self.receiver.upgrade() {
            receiver.received(Raw { kind, data, id });
        }
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
}
