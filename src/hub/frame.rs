//! The SSE wire format, written once per event. The hub frames each event a
//! single time and every client gets the same bytes: formatting per client
//! (one axum `Event` per subscriber) is what makes a fan-out cost grow with
//! the audience, so Pulse does not use axum's `Sse` on its hot path.

use crate::status::Event;
use bytes::{BufMut, Bytes, BytesMut};

/// An event of a kind, with an optional id; a `message` is framed without
/// its name, as SSE's default. `data` may contain any text: every
/// line ending (`\n`, `\r\n`, lone `\r`) starts a new `data:` line, which is
/// how the EventSource parser rebuilds it (it joins data lines with `\n`, so a
/// `\r` cannot survive raw; status events are JSON, which escapes it).
pub(crate) fn event(kind: Event, id: Option<u64>, data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 48);
    put_event(&mut out, kind, id, data);
    out.freeze()
}

fn put_event(out: &mut BytesMut, kind: Event, id: Option<u64>, data: &str) {
    if kind != Event::Message {
        put_field(out, "event", kind.name());
    }
    if let Some(id) = id {
        put_field(out, "id", &id.to_string());
    }
    for line in split_lines(data) {
        put_field(out, "data", line);
    }
    out.put_u8(b'\n');
}

/// Frames written one after another into shared 64 KiB blocks; a block is
/// freed when the last frame in it is. The ring's frames live for minutes
/// while streams come and go around them: allocated one by one, each would
/// sit among the allocations of streams that have left and keep their pages
/// from going back to the operating system (12 MiB after a 10-minute churn
/// run, with a full ring of 4,096 frames). Side by side, they keep a few
/// blocks instead.
pub(crate) struct Blocks(BytesMut);

const BLOCK: usize = 64 * 1024;

impl Blocks {
    pub fn new() -> Blocks {
        Blocks(BytesMut::with_capacity(BLOCK))
    }

    /// `event`'s frame, in the current block. A frame that does not fit
    /// starts the next block (`BytesMut` allocates at least its first
    /// capacity again once the block is shared).
    pub(crate) fn event(&mut self, kind: Event, id: Option<u64>, data: &str) -> Bytes {
        put_event(&mut self.0, kind, id, data);
        self.0.split().freeze()
    }
}

impl Default for Blocks {
    fn default() -> Blocks {
        Blocks::new()
    }
}

/// The `snapshot` event that starts a stream which cannot be replayed.
pub(crate) fn snapshot(last_event_id: u64, json: &str) -> Bytes {
    event(Event::Snapshot, Some(last_event_id), json)
}

/// The last event of every stream the server ends: the original contract.
pub(crate) fn done() -> Bytes {
    Bytes::from_static(b"event: status\ndata: Done\n\n")
}

/// A comment: ignored by EventSource, but keeps proxies from timing out.
pub(crate) fn heartbeat() -> Bytes {
    Bytes::from_static(b": keep-alive\n\n")
}

/// How long the browser waits before reconnecting by itself.
pub(crate) fn retry(millis: u64) -> Bytes {
    Bytes::from(format!("retry: {millis}\n\n"))
}

fn put_field(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_u8(b'\n');
}

/// Splits on `\r\n`, `\r` and `\n` alike, keeping empty lines, so that the
/// number of `data:` lines is the number of lines the browser must rebuild.
fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(text)
            }
            Some(at) => {
                let skip = if text[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&text[at + skip..]);
                Some(&text[..at])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Bytes) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn message_has_id_and_one_data_line() {
        let frame = event(Event::Message, Some(7), "{\"a\":1}");
        assert_eq!(text(frame), "id: 7\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn frames_in_blocks_are_the_same_frames_across_block_ends() {
        let mut blocks = Blocks::new();
        let data = "x\r\n".repeat(100);
        let frames: Vec<Bytes> = (0..1000)
            .map(|id| blocks.event(Event::Alert, Some(id), &data))
            .collect();
        assert!(frames.iter().map(Bytes::len).sum::<usize>() > 4 * BLOCK);
        for (id, frame) in (0..).zip(frames) {
            assert_eq!(frame, event(Event::Alert, Some(id), &data), "frame {id}");
        }
    }

    #[test]
    fn every_line_ending_starts_a_data_line() {
        assert_eq!(
            text(event(Event::Config, None, "a\nb\r\nc\rd")),
            "event: config\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn trailing_line_ending_and_empty_data_keep_a_data_line() {
        assert_eq!(
            text(event(Event::Message, None, "a\r")),
            "data: a\ndata: \n\n"
        );
        assert_eq!(text(event(Event::Message, None, "")), "data: \n\n");
    }

    #[test]
    fn done_matches_the_original_contract() {
        assert_eq!(text(done()), "event: status\ndata: Done\n\n");
    }

    /// What a browser's EventSource makes of a frame: the event's name
    /// (`message` when it has none) and its data lines joined.
    fn as_received(frame: &Bytes) -> (String, String) {
        let text = std::str::from_utf8(frame).unwrap();
        let mut name = "message".to_string();
        let mut data = Vec::new();
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("event: ") {
                name = value.to_string();
            } else if let Some(value) = line.strip_prefix("data: ") {
                data.push(value);
            }
        }
        (name, data.join("\n"))
    }

    #[test]
    fn every_event_framed_by_the_hub_is_received_as_the_same_event() {
        for kind in Event::ALL {
            let frame = match kind {
                Event::Status => done(),
                kind => event(kind, Some(1), "{}"),
            };
            let (name, _) = as_received(&frame);
            assert_eq!(Event::named(&name), Some(kind), "{name}");
        }
        assert_eq!(Event::named("unheard-of"), None);
    }
}
