//! Config errors that point at the spot: `pulse.toml:12:7: unknown field
//! `urll`, expected one of `url`, `method`, …`. Every error the parser or a
//! validation raises carries the byte span of the offending value; this turns
//! it into the line and column a person sees in their editor.

use std::fmt;
use std::ops::Range;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub(crate) file: String,
    /// 1-based; `None` when the file could not be read at all.
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
    pub(crate) message: String,
}

impl ConfigError {
    /// An error about the bytes at `span` of `text`.
    pub(crate) fn at(
        file: &str,
        text: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_and_column(text, span.start);
        ConfigError {
            file: file.to_string(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// An error about the file as a whole (missing, unreadable).
    pub(crate) fn whole_file(file: &str, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// The TOML parser's and serde's errors carry a span and a message; the
    /// message loses toml's own multi-line rendering, which does not fit a
    /// log line or a dashboard banner.
    pub(crate) fn from_toml(file: &str, text: &str, error: &toml::de::Error) -> Self {
        let message = error.message().trim_end().to_string();
        match error.span() {
            Some(span) => ConfigError::at(file, text, span, message),
            None => ConfigError::whole_file(file, message),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.file, self.message)
            }
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column (in characters, as editors count) of a byte offset.
pub(super) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_editor_positions() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 6), (2, 1));
        // `é` is two bytes but one column.
        assert_eq!(line_and_column(text, 10), (2, 4));
        let error = ConfigError::at("p.toml", text, 6..7, "bad");
        assert_eq!(error.to_string(), "p.toml:2:1: bad");
    }
}
