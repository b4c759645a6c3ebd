//! `${NAME}` in any string of the config is replaced by the environment
//! variable NAME, so secrets live in the environment, not in the file.
//! Every value substituted is remembered: the checks redact them from
//! everything they publish. `$${` writes a literal `${`.

use std::ops::Range;
use toml::Spanned;
use toml::de::DeValue;

/// A failed substitution: where, and why.
pub(crate) struct EnvError {
    pub(crate) span: Range<usize>,
    pub(crate) message: String,
}

/// Expands every string value in `value` (not keys) in place, adding each
/// substituted value to `secrets` as it goes: even when a later one fails,
/// the caller knows every value already in the document.
pub(crate) fn expand_all(
    value: &mut Spanned<DeValue<'_>>,
    lookup: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Vec<String>,
) -> Result<(), EnvError> {
    expand_into(value, lookup, secrets)
}

fn expand_into(
    value: &mut Spanned<DeValue<'_>>,
    lookup: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Vec<String>,
) -> Result<(), EnvError> {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(text) if text.contains('$') => {
            let expanded =
                expand(text, lookup, secrets).map_err(|message| EnvError { span, message })?;
            *text = expanded.into();
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                expand_into(item, lookup, secrets)?;
            }
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter_mut() {
                expand_into(item, lookup, secrets)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// One string: `${NAME}` substituted, `$${` unescaped, anything else kept.
pub(crate) fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                return Err("`${` is not closed by `}` (write `$${` for a literal `${`)".into());
            };
            let name = &tail[..end];
            if !is_variable_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a variable name (letters, digits and `_`, not starting with a digit)"
                ));
            }
            let Some(value) = lookup(name) else {
                return Err(format!("environment variable `{name}` is not set"));
            };
            out.push_str(&value);
            if !value.is_empty() && !secrets.contains(&value) {
                secrets.push(value);
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_remembers_values() {
        let mut secrets = Vec::new();
        let out = expand("Bearer ${TOKEN}, ${EMPTY}$5 $${HOME}", &env, &mut secrets).unwrap();
        assert_eq!(out, "Bearer s3cret, $5 ${HOME}");
        assert_eq!(secrets, vec!["s3cret".to_string()]);
    }

    #[test]
    fn names_what_is_wrong() {
        let mut secrets = Vec::new();
        let missing = expand("${NOPE}", &env, &mut secrets).unwrap_err();
        assert!(missing.contains("`NOPE` is not set"), "{missing}");
        let open = expand("a ${TOKEN", &env, &mut secrets).unwrap_err();
        assert!(open.contains("not closed"), "{open}");
        let bad = expand("${1X}", &env, &mut secrets).unwrap_err();
        assert!(bad.contains("not a variable name"), "{bad}");
    }
}
