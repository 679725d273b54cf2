//! The OpenAPI document as YAML that every YAML parser reads back to the same JSON.
//!
//! Written here rather than with `yaml_serde::to_string` because that emitter (like
//! most) writes strings plain whenever YAML 1.2 reads them back as strings, while
//! YAML 1.1 parsers (PyYAML, many code generators) read `2026-11-24T10:15:30Z` as a
//! timestamp, `yes`/`on`/`y` as booleans and `1:20` as a number. Here a string is plain
//! only when it is unambiguous under both versions; otherwise it is double-quoted with
//! JSON's escapes (which YAML's double-quoted style shares) or, when it has several
//! lines, a literal block.

use serde_json::Value;
use std::fmt::Write as _;

/// `value` as a block-style YAML document: what `/openapi.yaml` serves and
/// `items-api openapi` prints.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0),
        scalar => {
            write_scalar(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

fn write_mapping(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            pad(out, indent);
        }
        write_string(out, key, indent, false);
        out.push(':');
        write_nested(out, value, indent);
    }
}

fn write_sequence(out: &mut String, items: &[Value], indent: usize) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_mapping(out, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => write_sequence(out, inner, indent + 2),
            scalar => {
                write_scalar(out, scalar, indent + 2);
                out.push('\n');
            }
        }
    }
}

/// The value after `key:`: a nested block on the next lines, or a scalar on this one.
fn write_nested(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            write_mapping(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            pad(out, indent);
            write_sequence(out, items, indent);
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar, indent + 2);
            out.push('\n');
        }
    }
}

fn write_scalar(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(out, s, indent, true),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn write_string(out: &mut String, text: &str, indent: usize, block_allowed: bool) {
    if is_plain_safe(text) {
        out.push_str(text);
    } else if block_allowed && fits_literal_block(text) {
        out.push_str("|-");
        for line in text.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                pad(out, indent);
                out.push_str(line);
            }
        }
    } else {
        out.push_str(&serde_json::to_string(text).expect("a string always serializes"));
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Whether YAML 1.1 and 1.2 both read `text`, written plain, as this very string: it
/// starts with a letter, `/` or `_`, holds only characters without meaning in plain
/// scalars, and is no word either version reads as a boolean or null.
fn is_plain_safe(text: &str) -> bool {
    const RESERVED: &[&str] = &[
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf",
    ];
    let Some(first) = text.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '/' || first == '_')
        && !text.ends_with(' ')
        && !text.contains(": ")
        && !text.contains(" #")
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-./()$,'`*+=".contains(c) || c == ':')
        && !text.ends_with(':')
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str())
}

/// Several lines of printable text with no leading space, trailing newline or trailing
/// spaces: a `|-` block keeps it exactly.
fn fits_literal_block(text: &str) -> bool {
    text.contains('\n')
        && !text.starts_with([' ', '\n'])
        && !text.ends_with('\n')
        && text
            .split('\n')
            .all(|line| !line.ends_with([' ', '\t']) && !line.starts_with('\t'))
        && text.chars().all(|c| {
            c == '\n'
                || (!c.is_control()
                    && c != '\u{feff}'
                    && c != '\u{85}'
                    && c != '\u{2028}'
                    && c != '\u{2029}')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_back_to_the_same_json() {
        let value = json!({
            "openapi": "3.1.0",
            "times": ["2026-11-24T10:15:30.123456Z", "2026-11-24", "1:20", "010"],
            "words": ["yes", "No", "on", "y", "~", "null", "", " lead", "trail ", "a: b", "x #y"],
            "text": "line one\nline two\n\nafter a blank line",
            "odd": "tab\there \"quoted\" back\\slash",
            "pattern": "^[A-Za-z0-9_-]{22}$",
            "empty": {}, "none": [], "n": 1.5, "i": -3, "b": false, "z": null,
            "nested": [{"a": [1, [2, 3], {}]}, [], "s"],
            "yes": "key that is a YAML 1.1 boolean",
        });
        let yaml = to_yaml(&value);
        let back: Value = yaml_serde::from_str(&yaml).expect("valid YAML");
        assert_eq!(back, value, "{yaml}");
        // The strings YAML 1.1 would misread are quoted.
        for risky in [
            "\"2026-11-24T10:15:30.123456Z\"",
            "\"yes\"",
            "\"1:20\"",
            "\"on\"",
        ] {
            assert!(yaml.contains(risky), "{risky} in\n{yaml}");
        }
    }
}
