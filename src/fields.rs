//! Value types of the config file that validate themselves while being
//! deserialised. Validating inside `Deserialize` is what lets the TOML parser
//! attach the exact span of the bad value to the error.

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// A positive duration written for people: `"10s"`, `"500ms"`, `"1m 30s"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Period(pub Duration);

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer).map_err(|e: D::Error| {
            // A missing key says so (serde names it); a wrong type gets the
            // form a duration takes.
            if e.to_string().starts_with("missing field") {
                return e;
            }
            de::Error::custom("expected a duration as a string, like \"10s\" or \"500ms\"")
        })?;
        let duration = humantime::parse_duration(&text).map_err(|e| {
            de::Error::custom(format!(
                "`{text}` is not a duration ({e}); write e.g. \"10s\", \"500ms\", \"1m\""
            ))
        })?;
        if duration.is_zero() {
            return Err(de::Error::custom("must be greater than zero"));
        }
        Ok(Period(duration))
    }
}

/// An absolute `http://` or `https://` URL with a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HttpUrl(pub reqwest::Url);

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let url = reqwest::Url::parse(&text)
            .map_err(|e| de::Error::custom(format!("`{text}` is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(de::Error::custom(format!(
                "the URL must start with http:// or https://, not {}://",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(de::Error::custom("the URL has no host"));
        }
        Ok(HttpUrl(url))
    }
}

/// An HTTP method; `GET` unless set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Method(pub reqwest::Method);

impl Default for Method {
    fn default() -> Self {
        Method(reqwest::Method::GET)
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_uppercase());
        if !valid {
            return Err(de::Error::custom(format!(
                "`{text}` is not an HTTP method; write it in capitals, like \"GET\" or \"HEAD\""
            )));
        }
        reqwest::Method::from_bytes(text.as_bytes())
            .map(Method)
            .map_err(|_| de::Error::custom(format!("`{text}` is not an HTTP method")))
    }
}

/// Request headers, checked to be valid HTTP. Values may hold secrets
/// (`${TOKEN}`); they are sent, never published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Headers(pub Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
        let mut headers = Vec::with_capacity(table.len());
        for (name, value) in table {
            let header = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| de::Error::custom(format!("`{name}` is not a valid header name")))?;
            let value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                de::Error::custom(format!("the value of header `{name}` is not valid in HTTP (line breaks or control characters?)"))
            })?;
            headers.push((header, value));
        }
        Ok(Headers(headers))
    }
}

/// The status codes that count as success: `200`, `[200, 204]`, `"2xx"`,
/// `["2xx", 304]` or `"200-399"`. 2xx unless set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatusSet(pub Vec<RangeInclusive<u16>>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![200..=299])
    }
}

impl StatusSet {
    pub(crate) fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|range| range.contains(&code))
    }

    /// `2xx`, `200, 204`: how the set reads in a failure reason.
    pub(crate) fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|range| match (*range.start(), *range.end()) {
                (a, b) if a == b => a.to_string(),
                (a, b) if a % 100 == 0 && b == a + 99 => format!("{}xx", a / 100),
                (a, b) => format!("{a}-{b}"),
            })
            .collect();
        parts.join(", ")
    }
}

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StatusSetVisitor)
    }
}

struct StatusSetVisitor;

impl<'de> Visitor<'de> for StatusSetVisitor {
    type Value = StatusSet;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a status code (200), a class (\"2xx\"), a range (\"200-399\") or a list of them",
        )
    }

    fn visit_i64<E: de::Error>(self, code: i64) -> Result<StatusSet, E> {
        Ok(StatusSet(vec![status_range_of_code(code)?]))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<StatusSet, E> {
        Ok(StatusSet(vec![status_range_of_text(text)?]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusSet, A::Error> {
        let mut ranges = Vec::new();
        while let Some(item) = seq.next_element::<StatusItem>()? {
            ranges.push(item.0);
        }
        if ranges.is_empty() {
            return Err(de::Error::custom("the list of expected statuses is empty"));
        }
        Ok(StatusSet(ranges))
    }
}

/// One entry of a status list: a code or a text form.
struct StatusItem(RangeInclusive<u16>);

impl<'de> Deserialize<'de> for StatusItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let set = deserializer.deserialize_any(StatusSetVisitor)?;
        Ok(StatusItem(set.0.into_iter().next().expect("one range")))
    }
}

fn status_range_of_code<E: de::Error>(code: i64) -> Result<RangeInclusive<u16>, E> {
    if (100..=599).contains(&code) {
        Ok(code as u16..=code as u16)
    } else {
        Err(E::custom(format!(
            "{code} is not an HTTP status code (100 to 599)"
        )))
    }
}

fn status_range_of_text<E: de::Error>(text: &str) -> Result<RangeInclusive<u16>, E> {
    let bad = || {
        E::custom(format!(
            "`{text}` is not a status, a class like \"2xx\" or a range like \"200-399\""
        ))
    };
    if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
        let class: i64 = class.parse().map_err(|_| bad())?;
        let start = status_range_of_code::<E>(class * 100)?;
        return Ok(*start.start()..=start.start() + 99);
    }
    if let Some((low, high)) = text.split_once('-') {
        let low: i64 = low.trim().parse().map_err(|_| bad())?;
        let high: i64 = high.trim().parse().map_err(|_| bad())?;
        let (low, high) = (
            status_range_of_code::<E>(low)?,
            status_range_of_code::<E>(high)?,
        );
        if low.start() > high.start() {
            return Err(bad());
        }
        return Ok(*low.start()..=*high.start());
    }
    let code: i64 = text.trim().parse().map_err(|_| bad())?;
    status_range_of_code(code)
}

/// A regular expression, compiled once when the config loads.
#[derive(Clone, Debug)]
pub(crate) struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        regex::Regex::new(&text)
            .map(Pattern)
            .map_err(|e| de::Error::custom(format!("not a valid regular expression: {e}")))
    }
}

/// An RFC 6901 JSON pointer: `""` (the whole document) or `/a/0/b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonPointer(pub String);

impl<'de> Deserialize<'de> for JsonPointer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if !text.is_empty() && !text.starts_with('/') {
            return Err(de::Error::custom(format!(
                "`{text}` is not a JSON pointer; it starts with `/`, like \"/status\" or \"/checks/0/ok\""
            )));
        }
        Ok(JsonPointer(text))
    }
}

/// `host:port` for a TCP connect, where host is a name, an IPv4 address
/// or a bracketed IPv6 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Address(pub String);

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bad = |why: &str| de::Error::custom(format!("`{text}` is not host:port: {why}"));
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        if host.is_empty() || host == "[]" {
            return Err(bad("no host"));
        }
        match port.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad("the port must be a number from 1 to 65535")),
            Ok(_) => Ok(Address(text)),
        }
    }
}

/// A string that must not be empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(NonEmpty(text))
    }
}

/// A database URL: parsed as a URL, so its user and password are known
/// (and kept secret), with one of the schemes its kind accepts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DatabaseUrl(pub reqwest::Url);

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let url = reqwest::Url::parse(&text).map_err(|e| {
            de::Error::custom(format!(
                "not a URL ({e}); write e.g. \"postgres://user:${{PASSWORD}}@db:5432/app\""
            ))
        })?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(de::Error::custom("the URL names no host"));
        }
        Ok(DatabaseUrl(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        expect: StatusSet,
    }

    fn statuses(toml_value: &str) -> Result<StatusSet, String> {
        toml::from_str::<Holder>(&format!("expect = {toml_value}"))
            .map(|h| h.expect)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn status_sets_read_every_written_form() {
        assert!(statuses("204").unwrap().contains(204));
        let set = statuses(r#"["2xx", 304, "400-404"]"#).unwrap();
        assert!(set.contains(250) && set.contains(304) && set.contains(403));
        assert!(!set.contains(405));
        assert_eq!(set.describe(), "2xx, 304, 400-404");
        assert!(statuses("700").unwrap_err().contains("100 to 599"));
        assert!(statuses(r#""9xx""#).unwrap_err().contains("100 to 599"));
        assert!(statuses(r#""ok""#).unwrap_err().contains("not a status"));
        assert!(statuses("[]").unwrap_err().contains("empty"));
    }
}
