//! A Glue table's columns, and what Firehose's record format conversion does with one JSON
//! record against them.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::{Map, Value};

/// A column type as Glue (Hive DDL) writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlueType {
    String,
    Int,
    Bigint,
    Double,
    Boolean,
    Timestamp,
    Date,
    Array(Box<GlueType>),
    Struct(Vec<(String, GlueType)>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("unsupported Glue type `{ty}` in `{text}`")]
    UnknownType { ty: String, text: String },
    #[error("malformed Glue type `{text}`: {reason}")]
    Malformed { text: String, reason: String },
}

impl GlueType {
    /// Parses a type as templates write it, e.g. `array<struct<sku:string,quantity:int>>`:
    /// case-insensitive, whitespace allowed between tokens. Struct field names keep their
    /// case (matching against records ignores it).
    pub fn parse(s: &str) -> Result<GlueType, SchemaError> {
        let mut parser = TypeParser { text: s, pos: 0 };
        let ty = parser.ty()?;
        parser.skip_space();
        if parser.pos < s.len() {
            return Err(parser.malformed(format!("unexpected `{}`", &s[parser.pos..])));
        }
        Ok(ty)
    }

    /// The DuckDB type, e.g. `STRUCT("sku" VARCHAR, "quantity" INTEGER)[]`.
    pub fn duckdb(&self) -> String {
        match self {
            GlueType::String => "VARCHAR".into(),
            GlueType::Int => "INTEGER".into(),
            GlueType::Bigint => "BIGINT".into(),
            GlueType::Double => "DOUBLE".into(),
            GlueType::Boolean => "BOOLEAN".into(),
            GlueType::Timestamp => "TIMESTAMP".into(),
            GlueType::Date => "DATE".into(),
            GlueType::Array(inner) => format!("{}[]", inner.duckdb()),
            GlueType::Struct(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(name, ty)| format!("{} {}", quote_ident(name), ty.duckdb()))
                    .collect();
                format!("STRUCT({})", fields.join(", "))
            }
        }
    }
}

/// The Glue text of the type, lower-case, without spaces.
impl fmt::Display for GlueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlueType::String => f.write_str("string"),
            GlueType::Int => f.write_str("int"),
            GlueType::Bigint => f.write_str("bigint"),
            GlueType::Double => f.write_str("double"),
            GlueType::Boolean => f.write_str("boolean"),
            GlueType::Timestamp => f.write_str("timestamp"),
            GlueType::Date => f.write_str("date"),
            GlueType::Array(inner) => write!(f, "array<{inner}>"),
            GlueType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}:{ty}")?;
                }
                f.write_str(">")
            }
        }
    }
}

/// A DuckDB identifier in double quotes, so that any column name is taken literally.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

struct TypeParser<'a> {
    text: &'a str,
    pos: usize,
}

impl TypeParser<'_> {
    fn malformed(&self, reason: String) -> SchemaError {
        SchemaError::Malformed {
            text: self.text.to_string(),
            reason,
        }
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// A run of characters other than the type syntax's punctuation and whitespace.
    fn word(&mut self) -> &str {
        self.skip_space();
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| matches!(c, '<' | '>' | ',' | ':') || c.is_whitespace())
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn expect(&mut self, c: char) -> Result<(), SchemaError> {
        self.skip_space();
        match self.text[self.pos..].chars().next() {
            Some(found) if found == c => {
                self.pos += c.len_utf8();
                Ok(())
            }
            Some(found) => Err(self.malformed(format!("expected `{c}`, found `{found}`"))),
            None => Err(self.malformed(format!("expected `{c}`, found the end"))),
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.text[self.pos..].chars().next()
    }

    fn ty(&mut self) -> Result<GlueType, SchemaError> {
        let word = self.word().to_ascii_lowercase();
        Ok(match word.as_str() {
            "string" => GlueType::String,
            "int" | "integer" => GlueType::Int,
            "bigint" => GlueType::Bigint,
            "double" => GlueType::Double,
            "boolean" => GlueType::Boolean,
            "timestamp" => GlueType::Timestamp,
            "date" => GlueType::Date,
            "array" => {
                self.expect('<')?;
                let inner = self.ty()?;
                self.expect('>')?;
                GlueType::Array(Box::new(inner))
            }
            "struct" => {
                self.expect('<')?;
                let mut fields: Vec<(String, GlueType)> = Vec::new();
                loop {
                    let name = self.word().to_string();
                    if name.is_empty() {
                        return Err(self.malformed("a struct field has no name".into()));
                    }
                    if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                        return Err(self.malformed(format!("struct field `{name}` appears twice")));
                    }
                    self.expect(':')?;
                    let ty = self.ty()?;
                    fields.push((name, ty));
                    if self.peek() == Some(',') {
                        self.expect(',')?;
                    } else {
                        break;
                    }
                }
                self.expect('>')?;
                GlueType::Struct(fields)
            }
            "" => {
                let reason = match self.peek() {
                    Some(c) => format!("expected a type, found `{c}`"),
                    None => "expected a type, found the end".into(),
                };
                return Err(self.malformed(reason));
            }
            _ => {
                return Err(SchemaError::UnknownType {
                    ty: word,
                    text: self.text.to_string(),
                });
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: GlueType,
}

/// A Glue table: the one place the warehouse's columns are written down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub database: String,
    pub table: String,
    pub columns: Vec<Column>,
    pub partition_keys: Vec<Column>,
}

/// Why one record could not be converted; Firehose then writes it under the error prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("column `{path}`: ") })]
pub struct RecordError {
    /// The column, with `.field` and `[index]` into structs and arrays, e.g.
    /// `items[1].quantity`; empty when the record as a whole is wrong.
    pub path: String,
    pub message: String,
}

impl RecordError {
    /// The code written in the error record's error-code field. AWS's documentation of
    /// those records (record-format-conversion-error-handling) names the field but lists no
    /// codes, so this one is local, in the `DataFormatConversion.` style of Firehose's codes.
    pub fn error_code(&self) -> &'static str {
        "DataFormatConversion.MalformedData"
    }

    fn at(path: &str, message: impl Into<String>) -> Self {
        RecordError {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// What Firehose's record format conversion with the Hive JSON SerDe does with one JSON
/// record: the row, each column's value coerced, or why the record is rejected.
///
/// - The record must be a JSON object.
/// - Fields are matched to columns case-insensitively (Hive lower-cases names); the row's
///   keys are the schema's column names. Two fields naming one column (`eventId` and
///   `eventid`) reject the record, as which one Hive keeps is not documented.
/// - Fields not in the schema are ignored; a missing or null field is null.
/// - Partition keys are not in the row: they come from the object's path.
/// - `string`: a JSON string, or a number or boolean as its JSON text (Hive reads the
///   token's text); an object or array is rejected.
/// - `int`, `bigint`: a JSON integer within the type's range. A string of digits or a
///   fraction is rejected (Hive reads the token as a number; AWS's docs say nothing of
///   strings, so the strict reading).
/// - `double`: any JSON number; `boolean`: `true` or `false` only (strict where Hive
///   reads any text as false).
/// - `timestamp`: a string (or number) matching one of `timestamp_formats`, Joda
///   patterns as in `HiveJsonSerDe.TimestampFormats`, tried in order; `millis` is epoch
///   milliseconds. Without formats, `java.sql.Timestamp.valueOf`'s
///   `yyyy-[m]m-[d]d hh:mm:ss[.f...]`. A pattern with an offset (`Z`, `ZZ`) is converted to
///   UTC; one without is taken as UTC. The value is rendered `YYYY-MM-DD HH:MM:SS.ffffff`
///   (fractions below a microsecond dropped, as in the Parquet timestamp).
/// - `date`: `yyyy-[m]m-[d]d` (`java.sql.Date.valueOf`), rendered `YYYY-MM-DD`.
/// - `array`, `struct`: a JSON array or object, converted element by element and field by
///   field with the same rules.
pub fn conform(
    record: &Value,
    schema: &TableSchema,
    timestamp_formats: &[String],
) -> Result<Map<String, Value>, RecordError> {
    let Value::Object(fields) = record else {
        return Err(RecordError::at(
            "",
            format!("the record is {}, not a JSON object", kind(record)),
        ));
    };
    let formats = TimestampFormats::new(timestamp_formats)?;
    let mut row = Map::new();
    for column in &schema.columns {
        let value = field(fields, &column.name, "")?;
        let value = match value {
            None => Value::Null,
            Some(v) => coerce(v, &column.ty, &column.name, &formats)?,
        };
        row.insert(column.name.clone(), value);
    }
    Ok(row)
}

/// The object's field for `name`, ignoring case.
fn field<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    parent: &str,
) -> Result<Option<&'a Value>, RecordError> {
    let mut found: Option<(&String, &Value)> = None;
    for (key, value) in fields {
        if key.eq_ignore_ascii_case(name) {
            if let Some((first, _)) = found {
                return Err(RecordError::at(
                    &join(parent, name),
                    format!("fields `{first}` and `{key}` both name this column"),
                ));
            }
            found = Some((key, value));
        }
    }
    Ok(found.map(|(_, v)| v))
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn coerce(
    value: &Value,
    ty: &GlueType,
    path: &str,
    formats: &TimestampFormats,
) -> Result<Value, RecordError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let mismatch = || RecordError::at(path, format!("expected {ty}, found {}", kind(value)));
    match ty {
        GlueType::String => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(mismatch()),
        },
        GlueType::Int | GlueType::Bigint => {
            let Value::Number(n) = value else {
                return Err(mismatch());
            };
            let Some(i) = n.as_i64() else {
                return Err(RecordError::at(
                    path,
                    format!("expected {ty}, found {n}, not an integer in range"),
                ));
            };
            if *ty == GlueType::Int && i32::try_from(i).is_err() {
                return Err(RecordError::at(
                    path,
                    format!("expected int, found {n}, outside -2147483648..=2147483647"),
                ));
            }
            Ok(Value::from(i))
        }
        GlueType::Double => match value {
            Value::Number(n) => Ok(n.as_f64().map(Value::from).unwrap_or_else(|| value.clone())),
            _ => Err(mismatch()),
        },
        GlueType::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(mismatch()),
        },
        GlueType::Timestamp => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(mismatch()),
            };
            match formats.parse(&text) {
                Some(ts) => Ok(Value::String(
                    ts.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                )),
                None => Err(RecordError::at(
                    path,
                    format!("timestamp `{text}` matches none of {}", formats.describe()),
                )),
            }
        }
        GlueType::Date => {
            let Value::String(text) = value else {
                return Err(mismatch());
            };
            match parse_date(text) {
                Some(d) => Ok(Value::String(d.format("%Y-%m-%d").to_string())),
                None => Err(RecordError::at(
                    path,
                    format!("date `{text}` is not yyyy-mm-dd"),
                )),
            }
        }
        GlueType::Array(inner) => {
            let Value::Array(items) = value else {
                return Err(mismatch());
            };
            items
                .iter()
                .enumerate()
                .map(|(i, item)| coerce(item, inner, &format!("{path}[{i}]"), formats))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        GlueType::Struct(struct_fields) => {
            let Value::Object(object) = value else {
                return Err(mismatch());
            };
            let mut out = Map::new();
            for (name, field_ty) in struct_fields {
                let v = match field(object, name, path)? {
                    None => Value::Null,
                    Some(v) => coerce(v, field_ty, &join(path, name), formats)?,
                };
                out.insert(name.clone(), v);
            }
            Ok(Value::Object(out))
        }
    }
}

/// `java.sql.Date.valueOf`: `yyyy-[m]m-[d]d`.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || !(1..=2).contains(&m.len())
        || !(1..=2).contains(&d.len())
        || ![y, m, d]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// One element of a Joda pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// A numeric field: which one, and its digit count (exact when `min == max`).
    Number {
        field: Field,
        min: usize,
        max: usize,
    },
    /// `Z` or `ZZ`: `Z` for UTC, or `+hh:mm`, `+hhmm`, `+hh` (Joda's parser takes each).
    Offset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Fraction,
}

enum Format {
    Millis,
    Pattern(Vec<Token>),
}

struct TimestampFormats {
    formats: Vec<Format>,
    written: Vec<String>,
}

impl TimestampFormats {
    fn new(patterns: &[String]) -> Result<Self, RecordError> {
        if patterns.is_empty() {
            // java.sql.Timestamp.valueOf, with and without the fraction.
            let base = "yyyy-M-d HH:mm:ss";
            return Ok(TimestampFormats {
                formats: vec![
                    Format::Pattern(joda(base).map_err(|m| RecordError::at("", m))?),
                    Format::Pattern(
                        joda(&format!("{base}.S")).map_err(|m| RecordError::at("", m))?,
                    ),
                ],
                written: vec!["yyyy-[m]m-[d]d hh:mm:ss[.f...] (java.sql.Timestamp)".into()],
            });
        }
        let formats = patterns
            .iter()
            .map(|p| {
                if p == "millis" {
                    Ok(Format::Millis)
                } else {
                    joda(p)
                        .map(Format::Pattern)
                        .map_err(|m| RecordError::at("", m))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(TimestampFormats {
            formats,
            written: patterns.iter().map(|p| format!("`{p}`")).collect(),
        })
    }

    fn describe(&self) -> String {
        self.written.join(", ")
    }

    fn parse(&self, text: &str) -> Option<NaiveDateTime> {
        self.formats.iter().find_map(|format| match format {
            Format::Millis => {
                let millis: i64 = text.parse().ok()?;
                DateTime::from_timestamp_millis(millis).map(|t| t.naive_utc())
            }
            Format::Pattern(tokens) => parse_with(tokens, text),
        })
    }
}

/// Compiles the subset of Joda's `DateTimeFormat` that timestamps use: `yyyy`, `M`/`MM`,
/// `d`/`dd`, `H`/`HH`, `m`/`mm`, `s`/`ss`, `S...` (a fraction of 1 to 9 digits, as Joda
/// parses it), `Z`/`ZZ`, quoted literals (`'T'`, `''` for a quote) and punctuation.
fn joda(pattern: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                literal.push('\'');
                i += 2;
                continue;
            }
            let Some(end) = chars[i + 1..].iter().position(|&q| q == '\'') else {
                return Err(format!(
                    "timestamp format `{pattern}` has an unclosed quote"
                ));
            };
            literal.extend(&chars[i + 1..i + 1 + end]);
            i += end + 2;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            literal.push(c);
            i += 1;
            continue;
        }
        let count = chars[i..].iter().take_while(|&&x| x == c).count();
        if !literal.is_empty() {
            tokens.push(Token::Literal(std::mem::take(&mut literal)));
        }
        let number = |field, min, max| Token::Number { field, min, max };
        let two = |field| match count {
            1 => Ok(number(field, 1, 2)),
            2 => Ok(number(field, 2, 2)),
            _ => Err(()),
        };
        let token = match c {
            'y' if count == 4 => Ok(number(Field::Year, 4, 4)),
            'M' => two(Field::Month),
            'd' => two(Field::Day),
            'H' => two(Field::Hour),
            'm' => two(Field::Minute),
            's' => two(Field::Second),
            'S' => Ok(number(Field::Fraction, 1, 9)),
            'Z' if count <= 2 => Ok(Token::Offset),
            _ => Err(()),
        };
        let token = token.map_err(|()| {
            format!(
                "timestamp format `{pattern}`: `{}` is not supported locally",
                c.to_string().repeat(count)
            )
        })?;
        tokens.push(token);
        i += count;
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    Ok(tokens)
}

/// The text as UTC, if it matches the whole pattern.
fn parse_with(tokens: &[Token], text: &str) -> Option<NaiveDateTime> {
    let (mut year, mut month, mut day) = (1970, 1, 1);
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0);
    let mut offset_seconds: i64 = 0;
    let mut rest = text;
    for token in tokens {
        match token {
            Token::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
            Token::Number { field, min, max } => {
                let len = rest
                    .bytes()
                    .take(*max)
                    .take_while(u8::is_ascii_digit)
                    .count();
                if len < *min {
                    return None;
                }
                let (digits, tail) = rest.split_at(len);
                rest = tail;
                let n: u32 = digits.parse().ok()?;
                match field {
                    Field::Year => year = n as i32,
                    Field::Month => month = n,
                    Field::Day => day = n,
                    Field::Hour => hour = n,
                    Field::Minute => minute = n,
                    Field::Second => second = n,
                    Field::Fraction => nanos = n * 10u32.pow(9 - len as u32),
                }
            }
            Token::Offset => {
                if let Some(tail) = rest.strip_prefix('Z') {
                    rest = tail;
                    continue;
                }
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let body = &rest[1..];
                let digits = |s: &str, n: usize| -> Option<i64> {
                    let part = s.get(..n)?;
                    if part.bytes().all(|b| b.is_ascii_digit()) {
                        part.parse().ok()
                    } else {
                        None
                    }
                };
                let hours = digits(body, 2)?;
                let (minutes, used) = if let Some(m) = body.get(2..).and_then(|s| {
                    s.strip_prefix(':')
                        .and_then(|s| digits(s, 2))
                        .map(|m| (m, 5))
                }) {
                    m
                } else if let Some(m) = body.get(2..).and_then(|s| digits(s, 2)) {
                    (m, 4)
                } else {
                    (0, 2)
                };
                if hours > 23 || minutes > 59 {
                    return None;
                }
                offset_seconds = sign * (hours * 3600 + minutes * 60);
                rest = &body[used..];
            }
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(year, month, day)?
        .and_time(NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?);
    // Parquet and DuckDB timestamps hold microseconds.
    let utc = local - chrono::Duration::seconds(offset_seconds);
    let micros = utc.and_utc().timestamp_micros();
    DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_glue_form() {
        let cases = [
            ("string", GlueType::String),
            ("int", GlueType::Int),
            ("bigint", GlueType::Bigint),
            ("double", GlueType::Double),
            ("boolean", GlueType::Boolean),
            ("timestamp", GlueType::Timestamp),
            ("date", GlueType::Date),
            ("STRING", GlueType::String),
            ("  BigInt ", GlueType::Bigint),
            ("array<string>", GlueType::Array(Box::new(GlueType::String))),
        ];
        for (text, want) in cases {
            assert_eq!(GlueType::parse(text), Ok(want), "{text}");
        }
        let items = "array<struct<sku:string,quantity:int,unitPrice:struct<amountMinor:bigint,currency:string>>>";
        let want = GlueType::Array(Box::new(GlueType::Struct(vec![
            ("sku".into(), GlueType::String),
            ("quantity".into(), GlueType::Int),
            (
                "unitPrice".into(),
                GlueType::Struct(vec![
                    ("amountMinor".into(), GlueType::Bigint),
                    ("currency".into(), GlueType::String),
                ]),
            ),
        ])));
        assert_eq!(GlueType::parse(items), Ok(want.clone()));
        let spaced = "ARRAY<STRUCT<sku: string, quantity: INT, unitPrice: struct<amountMinor: bigint, currency: string>>>";
        assert_eq!(GlueType::parse(spaced), Ok(want.clone()));
        assert_eq!(want.to_string(), items);
    }

    #[test]
    fn rejects_bad_types_naming_them() {
        assert_eq!(
            GlueType::parse("varchar(10)").unwrap_err().to_string(),
            "unsupported Glue type `varchar(10)` in `varchar(10)`"
        );
        assert_eq!(
            GlueType::parse("map<string,int>"),
            Err(SchemaError::UnknownType {
                ty: "map".into(),
                text: "map<string,int>".into()
            })
        );
        assert_eq!(
            GlueType::parse("array<strin>").unwrap_err().to_string(),
            "unsupported Glue type `strin` in `array<strin>`"
        );
        for (text, reason) in [
            ("", "expected a type, found the end"),
            ("array<int", "expected `>`, found the end"),
            ("array<int>>", "unexpected `>`"),
            ("struct<a int>", "expected `:`, found `i`"),
            ("struct<:int>", "a struct field has no name"),
            ("struct<a:int,A:string>", "struct field `A` appears twice"),
            ("int string", "unexpected `string`"),
        ] {
            assert_eq!(
                GlueType::parse(text),
                Err(SchemaError::Malformed {
                    text: text.into(),
                    reason: reason.into()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn duckdb_type_text() {
        let ty = GlueType::parse(
            "array<struct<sku:string,quantity:int,unitPrice:struct<amountMinor:bigint,currency:string>>>",
        )
        .unwrap();
        assert_eq!(
            ty.duckdb(),
            r#"STRUCT("sku" VARCHAR, "quantity" INTEGER, "unitPrice" STRUCT("amountMinor" BIGINT, "currency" VARCHAR))[]"#
        );
        let simple: Vec<String> = [
            "string",
            "int",
            "bigint",
            "double",
            "boolean",
            "timestamp",
            "date",
        ]
        .iter()
        .map(|t| GlueType::parse(t).unwrap().duckdb())
        .collect();
        assert_eq!(
            simple,
            [
                "VARCHAR",
                "INTEGER",
                "BIGINT",
                "DOUBLE",
                "BOOLEAN",
                "TIMESTAMP",
                "DATE"
            ]
        );
        assert_eq!(
            GlueType::Struct(vec![("a\"b".into(), GlueType::Int)]).duckdb(),
            r#"STRUCT("a""b" INTEGER)"#
        );
    }

    fn schema(columns: &[(&str, &str)]) -> TableSchema {
        TableSchema {
            database: "eventmart_dev".into(),
            table: "events".into(),
            columns: columns
                .iter()
                .map(|(name, ty)| Column {
                    name: (*name).into(),
                    ty: GlueType::parse(ty).unwrap(),
                })
                .collect(),
            partition_keys: vec![
                Column {
                    name: "type".into(),
                    ty: GlueType::String,
                },
                Column {
                    name: "day".into(),
                    ty: GlueType::Date,
                },
            ],
        }
    }

    const ISO: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSZZ";

    fn conform_one(columns: &[(&str, &str)], record: Value) -> Result<Value, RecordError> {
        conform(&record, &schema(columns), &[ISO.to_string()]).map(Value::Object)
    }

    #[test]
    fn conforms_a_full_record() {
        let columns = [
            ("eventId", "string"),
            ("occurredAt", "timestamp"),
            ("quantity", "int"),
            ("totalMinor", "bigint"),
            ("ratio", "double"),
            ("member", "boolean"),
            ("day", "date"),
            (
                "items",
                "array<struct<sku:string,quantity:int,unitPrice:struct<amountMinor:bigint,currency:string>>>",
            ),
            ("missing", "string"),
            ("nothing", "int"),
        ];
        let record = json!({
            "EVENTID": "e-1",
            "occurredat": "2026-12-03T10:15:30.123+01:00",
            "quantity": 2,
            "totalMinor": 9_000_000_000i64,
            "ratio": 1,
            "member": true,
            "Day": "2026-12-3",
            "items": [{"SKU": "S1", "quantity": 2, "unitPrice": {"amountMinor": 1250, "currency": "EUR"}, "extra": 1},
                      {"sku": "S2"}],
            "nothing": null,
            "type": "OrderPlaced",
            "unknown": {"ignored": true}
        });
        assert_eq!(
            conform_one(&columns, record),
            Ok(json!({
                "eventId": "e-1",
                "occurredAt": "2026-12-03 09:15:30.123000",
                "quantity": 2,
                "totalMinor": 9_000_000_000i64,
                "ratio": 1.0,
                "member": true,
                "day": "2026-12-03",
                "items": [{"sku": "S1", "quantity": 2, "unitPrice": {"amountMinor": 1250, "currency": "EUR"}},
                          {"sku": "S2", "quantity": null, "unitPrice": null}],
                "missing": null,
                "nothing": null
            }))
        );
    }

    #[test]
    fn partition_keys_are_not_in_the_row() {
        let row = conform_one(
            &[("eventId", "string")],
            json!({"eventId": "e", "type": "X", "day": "2026-12-03"}),
        );
        assert_eq!(row, Ok(json!({"eventId": "e"})));
    }

    #[test]
    fn rejects_a_record_that_is_not_an_object() {
        for (record, what) in [
            (json!([1]), "an array"),
            (json!("x"), "a string"),
            (json!(null), "null"),
        ] {
            let err = conform_one(&[("a", "string")], record).unwrap_err();
            assert_eq!(err.path, "");
            assert_eq!(
                err.to_string(),
                format!("the record is {what}, not a JSON object")
            );
            assert_eq!(err.error_code(), "DataFormatConversion.MalformedData");
        }
    }

    #[test]
    fn strings_take_numbers_and_booleans_as_text() {
        let columns = [("a", "string"), ("b", "string"), ("c", "string")];
        assert_eq!(
            conform_one(&columns, json!({"a": 12, "b": 1.5, "c": false})),
            Ok(json!({"a": "12", "b": "1.5", "c": "false"}))
        );
        assert_eq!(
            conform_one(&columns, json!({"a": {"x": 1}})).unwrap_err(),
            RecordError::at("a", "expected string, found an object")
        );
    }

    #[test]
    fn integers_are_strict() {
        let columns = [("q", "int"), ("t", "bigint")];
        let err = |record| conform_one(&columns, record).unwrap_err().to_string();
        assert_eq!(
            err(json!({"q": "2"})),
            "column `q`: expected int, found a string"
        );
        assert_eq!(
            err(json!({"q": 1.5})),
            "column `q`: expected int, found 1.5, not an integer in range"
        );
        assert_eq!(
            err(json!({"q": 2147483648i64})),
            "column `q`: expected int, found 2147483648, outside -2147483648..=2147483647"
        );
        assert_eq!(
            err(json!({"t": 9223372036854775808u64})),
            "column `t`: expected bigint, found 9223372036854775808, not an integer in range"
        );
        assert_eq!(
            err(json!({"t": true})),
            "column `t`: expected bigint, found a boolean"
        );
        assert_eq!(
            conform_one(
                &columns,
                json!({"q": -2147483648i64, "t": -9223372036854775808i64})
            ),
            Ok(json!({"q": -2147483648i64, "t": i64::MIN}))
        );
    }

    #[test]
    fn doubles_booleans_and_dates_are_strict() {
        let columns = [("d", "double"), ("b", "boolean"), ("day", "date")];
        let err = |record| conform_one(&columns, record).unwrap_err().to_string();
        assert_eq!(
            err(json!({"d": "1.5"})),
            "column `d`: expected double, found a string"
        );
        assert_eq!(
            err(json!({"b": "true"})),
            "column `b`: expected boolean, found a string"
        );
        assert_eq!(
            err(json!({"day": "2026-02-30"})),
            "column `day`: date `2026-02-30` is not yyyy-mm-dd"
        );
        assert_eq!(
            err(json!({"day": "03/12/2026"})),
            "column `day`: date `03/12/2026` is not yyyy-mm-dd"
        );
        assert_eq!(
            err(json!({"day": 20261203})),
            "column `day`: expected date, found a number"
        );
    }

    #[test]
    fn nested_errors_name_the_path() {
        let columns = [(
            "items",
            "array<struct<sku:string,unitPrice:struct<amountMinor:bigint>>>",
        )];
        let err = conform_one(
            &columns,
            json!({"items": [{"sku": "a"}, {"sku": "b", "unitPrice": {"amountMinor": "5"}}]}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            RecordError::at(
                "items[1].unitPrice.amountMinor",
                "expected bigint, found a string"
            )
        );
        assert_eq!(
            conform_one(&columns, json!({"items": {"sku": "a"}}))
                .unwrap_err()
                .to_string(),
            "column `items`: expected array<struct<sku:string,unitPrice:struct<amountMinor:bigint>>>, found an object"
        );
    }

    #[test]
    fn two_fields_for_one_column_reject_the_record() {
        assert_eq!(
            conform_one(
                &[("eventId", "string")],
                json!({"eventId": "a", "EVENTID": "b"})
            )
            .unwrap_err()
            .to_string(),
            "column `eventId`: fields `EVENTID` and `eventId` both name this column"
        );
    }

    fn ts(formats: &[&str], value: Value) -> Result<Value, String> {
        let formats: Vec<String> = formats.iter().map(|f| f.to_string()).collect();
        conform(
            &json!({ "at": value }),
            &schema(&[("at", "timestamp")]),
            &formats,
        )
        .map(|row| row["at"].clone())
        .map_err(|e| e.to_string())
    }

    #[test]
    fn timestamps_follow_the_formats() {
        let iso = [ISO];
        assert_eq!(
            ts(&iso, json!("2026-12-03T10:15:30.123Z")),
            Ok(json!("2026-12-03 10:15:30.123000"))
        );
        assert_eq!(
            ts(&iso, json!("2026-12-03T00:15:30.5-0230")),
            Ok(json!("2026-12-03 02:45:30.500000"))
        );
        // Up to nine digits of fraction, kept to the microsecond.
        assert_eq!(
            ts(&iso, json!("2026-12-03T10:15:30.123456789+00:00")),
            Ok(json!("2026-12-03 10:15:30.123456"))
        );
        assert_eq!(
            ts(&iso, json!("2026-12-03T10:15:30Z")),
            Err(
                "column `at`: timestamp `2026-12-03T10:15:30Z` matches none of `yyyy-MM-dd'T'HH:mm:ss.SSSZZ`"
                    .into()
            )
        );
        let several = ["yyyy-MM-dd'T'HH:mm:ssZZ", ISO, "millis"];
        assert_eq!(
            ts(&several, json!("2026-12-03T10:15:30Z")),
            Ok(json!("2026-12-03 10:15:30.000000"))
        );
        assert_eq!(
            ts(&several, json!(1796292930123i64)),
            Ok(json!("2026-12-03 10:15:30.123000"))
        );
        assert_eq!(
            ts(&["millis"], json!("1796292930123")),
            Ok(json!("2026-12-03 10:15:30.123000"))
        );
        assert_eq!(
            ts(&["millis"], json!("soon")),
            Err("column `at`: timestamp `soon` matches none of `millis`".into())
        );
        assert_eq!(
            ts(&iso, json!(["2026"])),
            Err("column `at`: expected timestamp, found an array".into())
        );
        assert_eq!(
            ts(&["yyyy/MM/dd HH:mm"], json!("2026/12/03 10:15")),
            Ok(json!("2026-12-03 10:15:00.000000"))
        );
        assert_eq!(
            ts(&["yyyy-MM-dd'T'HH:mm:ss.SSSZZ"], json!("2026-13-03T10:15:30.000Z")),
            Err("column `at`: timestamp `2026-13-03T10:15:30.000Z` matches none of `yyyy-MM-dd'T'HH:mm:ss.SSSZZ`".into())
        );
    }

    #[test]
    fn timestamps_default_to_java_sql_timestamp() {
        assert_eq!(
            ts(&[], json!("2026-12-3 10:15:30")),
            Ok(json!("2026-12-03 10:15:30.000000"))
        );
        assert_eq!(
            ts(&[], json!("2026-12-03 10:15:30.25")),
            Ok(json!("2026-12-03 10:15:30.250000"))
        );
        assert_eq!(
            ts(&[], json!("2026-12-03T10:15:30Z")),
            Err("column `at`: timestamp `2026-12-03T10:15:30Z` matches none of yyyy-[m]m-[d]d hh:mm:ss[.f...] (java.sql.Timestamp)".into())
        );
    }

    #[test]
    fn unsupported_patterns_are_named() {
        assert_eq!(
            ts(&["yy-MM-dd"], json!("26-12-03")),
            Err("timestamp format `yy-MM-dd`: `yy` is not supported locally".into())
        );
        assert_eq!(
            ts(&["yyyy-MM-dd'T"], json!("x")),
            Err("timestamp format `yyyy-MM-dd'T` has an unclosed quote".into())
        );
    }
}
