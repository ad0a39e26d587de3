//! The two small languages of a delivery stream's configuration: the JQ of dynamic
//! partitioning's `MetadataExtractionQuery` (the subset that builds an object of keys
//! from paths), and the `!{...}` expressions of `Prefix` and `ErrorOutputPrefix`.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// `{type: .type, day: .occurred_at[0:10]}`: each key from a path, optionally a slice of
/// a string. Other JQ is refused when the stack starts, not misread at delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionQuery {
    pub keys: Vec<(String, KeyPath)>,
}

/// `.a.b["c-d"]` with an optional `[from:to]` string slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    pub fields: Vec<String>,
    pub slice: Option<(usize, usize)>,
}

/// Why a partition key could not be read from a record: Firehose then writes the record
/// under the error prefix as `partitioning-failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("the record is not a JSON object")]
    NotObject,
    #[error("partition key {key}: {path} is missing or null")]
    Missing { key: String, path: String },
    #[error("partition key {key}: {path} is not a string or a number")]
    NotScalar { key: String, path: String },
}

impl PartitionQuery {
    pub fn parse(jq: &str) -> Result<PartitionQuery, String> {
        let body = jq
            .trim()
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .ok_or(
                "the local stack reads a MetadataExtractionQuery of the form {key: .path, ...}",
            )?;
        let mut keys = Vec::new();
        for entry in body.split(',') {
            let (key, path) = entry
                .split_once(':')
                .ok_or_else(|| format!("{entry:?} is not key: .path"))?;
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("partition key {key:?} is not a plain name"));
            }
            keys.push((key.to_owned(), KeyPath::parse(path.trim())?));
        }
        Ok(PartitionQuery { keys })
    }

    /// The partition keys of one record, in query order.
    pub fn evaluate(&self, record: &Value) -> Result<Vec<(String, String)>, PartitionError> {
        if !record.is_object() {
            return Err(PartitionError::NotObject);
        }
        self.keys
            .iter()
            .map(|(key, path)| Ok((key.clone(), path.evaluate(key, record)?)))
            .collect()
    }
}

impl KeyPath {
    fn parse(text: &str) -> Result<KeyPath, String> {
        let bad = || format!("{text:?} is not a path the local stack reads (.a.b, .a[0:10])");
        let mut rest = text.strip_prefix('.').ok_or_else(bad)?;
        let mut fields = Vec::new();
        let mut slice = None;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("[\"") {
                let (name, after) = r.split_once("\"]").ok_or_else(bad)?;
                fields.push(name.to_owned());
                rest = after;
            } else if let Some(r) = rest.strip_prefix('[') {
                let (range, after) = r.split_once(']').ok_or_else(bad)?;
                let (from, to) = range.split_once(':').ok_or_else(bad)?;
                let n = |s: &str| s.trim().parse::<usize>().map_err(|_| bad());
                if !after.is_empty() {
                    return Err(bad());
                }
                slice = Some((n(from)?, n(to)?));
                rest = after;
            } else {
                let r = rest.strip_prefix('.').unwrap_or(rest);
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let name = &r[..end];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(bad());
                }
                fields.push(r[..end].to_owned());
                rest = &r[end..];
            }
        }
        if fields.is_empty() {
            return Err(bad());
        }
        Ok(KeyPath { fields, slice })
    }

    fn evaluate(&self, key: &str, record: &Value) -> Result<String, PartitionError> {
        let path = format!(".{}", self.fields.join("."));
        let mut v = record;
        for f in &self.fields {
            v = v.get(f).unwrap_or(&Value::Null);
        }
        let text = match v {
            Value::Null => {
                return Err(PartitionError::Missing {
                    key: key.to_owned(),
                    path,
                });
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(PartitionError::NotScalar {
                    key: key.to_owned(),
                    path,
                });
            }
        };
        Ok(match self.slice {
            // JQ slices strings by code point, clamping to the string's length.
            Some((from, to)) => text
                .chars()
                .skip(from)
                .take(to.saturating_sub(from))
                .collect(),
            None => text,
        })
    }
}

/// A `Prefix` or `ErrorOutputPrefix`, parsed once: literal text and `!{namespace:value}`
/// expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `!{partitionKeyFromQuery:key}`
    Key(String),
    /// `!{timestamp:yyyy-MM-dd}`: the arrival time, in UTC, in Java's pattern.
    Timestamp(String),
    /// `!{firehose:error-output-type}`
    ErrorOutputType,
    /// `!{firehose:random-string}`
    RandomString,
}

/// What a prefix is expanded with.
pub struct PrefixValues<'a> {
    pub keys: &'a [(String, String)],
    pub arrival: DateTime<Utc>,
    pub error_output_type: Option<&'a str>,
}

impl Prefix {
    pub fn parse(text: &str) -> Result<Prefix, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("!{") {
            if at > 0 {
                parts.push(Part::Text(rest[..at].to_owned()));
            }
            let after = &rest[at + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("{text:?}: an !{{ is not closed"))?;
            let (namespace, value) = after[..end]
                .split_once(':')
                .ok_or_else(|| format!("{text:?}: !{{{}}} has no namespace", &after[..end]))?;
            parts.push(match (namespace, value) {
                ("partitionKeyFromQuery", key) => Part::Key(key.to_owned()),
                ("timestamp", pattern) => {
                    java_time(pattern, &Utc::now())?;
                    Part::Timestamp(pattern.to_owned())
                }
                ("firehose", "error-output-type") => Part::ErrorOutputType,
                ("firehose", "random-string") => Part::RandomString,
                _ => {
                    return Err(format!(
                        "{text:?}: !{{{namespace}:{value}}} is not supported by the local stack"
                    ));
                }
            });
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Prefix { parts })
    }

    /// The partition keys this prefix uses.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Key(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// Whether the prefix says where time goes (else Firehose appends `yyyy/MM/dd/HH/`).
    pub fn has_expressions(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    pub fn expand(&self, values: &PrefixValues<'_>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Key(k) => {
                    let v = values.keys.iter().find(|(key, _)| key == k);
                    out.push_str(v.map_or("", |(_, v)| v.as_str()));
                }
                Part::Timestamp(pattern) => {
                    out.push_str(&java_time(pattern, &values.arrival).unwrap_or_default())
                }
                Part::ErrorOutputType => out.push_str(values.error_output_type.unwrap_or("")),
                Part::RandomString => {
                    out.extend((0..11).map(|_| fastrand::alphanumeric().to_ascii_lowercase()))
                }
            }
        }
        if !self.has_expressions() {
            out.push_str(&values.arrival.format("%Y/%m/%d/%H/").to_string());
        }
        out
    }
}

/// A Java `DateTimeFormatter` pattern of the common letters (`yyyy MM dd HH mm ss`) and
/// literal separators.
fn java_time(pattern: &str, at: &DateTime<Utc>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        let (token, fmt) = [
            ("yyyy", "%Y"),
            ("MM", "%m"),
            ("dd", "%d"),
            ("HH", "%H"),
            ("mm", "%M"),
            ("ss", "%S"),
        ]
        .into_iter()
        .find(|(t, _)| rest.starts_with(t))
        .unwrap_or(("", ""));
        if !token.is_empty() {
            out.push_str(&at.format(fmt).to_string());
            rest = &rest[token.len()..];
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        if c.is_ascii_alphabetic() {
            return Err(format!(
                "timestamp pattern {pattern:?}: {c} is not a letter the local stack formats"
            ));
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn the_templates_query_reads_type_and_day() {
        let q = PartitionQuery::parse("{type: .type, day: .occurred_at[0:10]}").unwrap();
        let keys = q
            .evaluate(&json!({"type": "OrderPlaced", "occurred_at": "2026-12-03T10:15:30.123Z"}))
            .unwrap();
        assert_eq!(
            keys,
            vec![
                ("type".to_owned(), "OrderPlaced".to_owned()),
                ("day".to_owned(), "2026-12-03".to_owned())
            ]
        );
    }

    #[test]
    fn nested_and_quoted_paths_and_numbers() {
        let q = PartitionQuery::parse(r#"{a: .x.y, b: .["detail-type"], c: .n}"#).unwrap();
        let keys = q
            .evaluate(&json!({"x": {"y": "deep"}, "detail-type": "T", "n": 7}))
            .unwrap();
        assert_eq!(keys[0].1, "deep");
        assert_eq!(keys[1].1, "T");
        assert_eq!(keys[2].1, "7");
    }

    #[test]
    fn a_missing_or_structured_key_fails_the_record() {
        let q = PartitionQuery::parse("{type: .type}").unwrap();
        assert_eq!(
            q.evaluate(&json!({"other": 1})),
            Err(PartitionError::Missing {
                key: "type".into(),
                path: ".type".into()
            })
        );
        assert!(matches!(
            q.evaluate(&json!({"type": {"a": 1}})),
            Err(PartitionError::NotScalar { .. })
        ));
        assert_eq!(q.evaluate(&json!([1])), Err(PartitionError::NotObject));
    }

    #[test]
    fn other_jq_is_refused() {
        for jq in [
            ".type",
            "{type: .type | ascii_downcase}",
            "{: .a}",
            "{a: type}",
        ] {
            assert!(PartitionQuery::parse(jq).is_err(), "{jq}");
        }
    }

    #[test]
    fn prefixes_expand_keys_time_and_error_type() {
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 9, 5, 7).unwrap();
        let keys = vec![("type".to_owned(), "OrderPlaced".to_owned())];
        let p =
            Prefix::parse("events/type=!{partitionKeyFromQuery:type}/day=!{timestamp:yyyy-MM-dd}/")
                .unwrap();
        let values = PrefixValues {
            keys: &keys,
            arrival: at,
            error_output_type: None,
        };
        assert_eq!(p.expand(&values), "events/type=OrderPlaced/day=2026-12-03/");
        assert_eq!(p.keys().collect::<Vec<_>>(), ["type"]);
        let e = Prefix::parse("errors/!{firehose:error-output-type}/").unwrap();
        let values = PrefixValues {
            error_output_type: Some("format-conversion-failed"),
            ..values
        };
        assert_eq!(e.expand(&values), "errors/format-conversion-failed/");
        // A prefix without expressions gets Firehose's default time path.
        assert_eq!(
            Prefix::parse("raw/").unwrap().expand(&values),
            "raw/2026/12/03/09/"
        );
    }

    #[test]
    fn unknown_expressions_are_refused() {
        assert!(Prefix::parse("a/!{firehose:nope}/").is_err());
        assert!(Prefix::parse("a/!{timestamp:yyyy-QQ}/").is_err());
        assert!(Prefix::parse("a/!{partitionKeyFromQuery:x").is_err());
    }
}
