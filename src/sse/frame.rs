//! The SSE wire format, written once per event. The hub frames each event a
//! single time and every client gets the same bytes: formatting per client
//! (one axum `Event` per subscriber) is what makes a fan-out cost grow with
//! the audience, so Pulse does not use axum's `Sse` on its hot path.

use bytes::{BufMut, Bytes, BytesMut};

/// An event with an optional type and id. `data` may contain any text: every
/// line ending (`\n`, `\r\n`, lone `\r`) starts a new `data:` line, which is
/// how the EventSource parser rebuilds it (it joins data lines with `\n`, so a
/// `\r` cannot survive raw; status events are JSON, which escapes it).
pub fn event(kind: Option<&str>, id: Option<u64>, data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 48);
    if let Some(kind) = kind {
        put_field(&mut out, "event", kind);
    }
    if let Some(id) = id {
        put_field(&mut out, "id", &id.to_string());
    }
    for line in split_lines(data) {
        put_field(&mut out, "data", line);
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// A `message` event carrying one status as JSON.
pub fn message(id: u64, json: &str) -> Bytes {
    event(None, Some(id), json)
}

/// The `snapshot` event that starts a stream which cannot be replayed.
pub fn snapshot(last_event_id: u64, json: &str) -> Bytes {
    event(Some("snapshot"), Some(last_event_id), json)
}

/// The last event of every stream the server ends: the original contract.
pub fn done() -> Bytes {
    Bytes::from_static(b"event: status\ndata: Done\n\n")
}

/// A comment: ignored by EventSource, but keeps proxies from timing out.
pub fn heartbeat() -> Bytes {
    Bytes::from_static(b": keep-alive\n\n")
}

/// How long the browser waits before reconnecting by itself.
pub fn retry(millis: u64) -> Bytes {
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
        assert_eq!(text(message(7, "{\"a\":1}")), "id: 7\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn every_line_ending_starts_a_data_line() {
        assert_eq!(
            text(event(Some("x"), None, "a\nb\r\nc\rd")),
            "event: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn trailing_line_ending_and_empty_data_keep_a_data_line() {
        assert_eq!(text(event(None, None, "a\r")), "data: a\ndata: \n\n");
        assert_eq!(text(event(None, None, "")), "data: \n\n");
    }

    #[test]
    fn done_matches_the_original_contract() {
        assert_eq!(text(done()), "event: status\ndata: Done\n\n");
    }
}
