//! Reading a kind's own keys from a config table: each `[[check]]` and
//! each `[[notifier]]` names a kind, and the kind reads the rest of the
//! table into its own struct (`deny_unknown_fields`), with the spans of
//! the whole file, so that its errors point at the right line.

use serde::Deserialize;
use std::ops::Range;
use toml::de::ValueDeserializer;

/// What reading a kind's keys needs besides them: files they name
/// (`ca_file`), read relative to the config and bounded as it is.
pub(crate) type Files<'a> = dyn Fn(&std::path::Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String>
    + 'a;

/// Why a kind's keys were refused.
pub(crate) enum BadKeys {
    /// A key of the wrong type, or one the kind does not have: the TOML
    /// error points at it.
    Keys(toml::de::Error),
    /// The keys together make nothing that works (a required one is
    /// missing, two contradict each other): about the whole table.
    Invalid(String),
    /// One value is wrong in a way only the kind can tell (a file it names
    /// cannot be read): about that value, at its place in the file.
    At(Range<usize>, String),
}

impl From<String> for BadKeys {
    fn from(message: String) -> BadKeys {
        BadKeys::Invalid(message)
    }
}

impl From<&str> for BadKeys {
    fn from(message: &str) -> BadKeys {
        BadKeys::Invalid(message.to_string())
    }
}

/// A kind's keys as its own struct says them (`deny_unknown_fields`).
pub(crate) fn keys<'de, T: Deserialize<'de>>(keys: ValueDeserializer<'de>) -> Result<T, BadKeys> {
    T::deserialize(keys).map_err(BadKeys::Keys)
}
