//! Small text helpers that several parts of the server need alike.

/// Bytes as lower-case hex: digests, signatures, tags.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// At most `max` characters of `text`, with `…` in place of the rest.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_shorten() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("äbc", 3), "äbc");
    }
}
