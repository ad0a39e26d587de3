//! Athena on one machine: the analysts' SQL over the lake's Parquet files, with DuckDB.
//!
//! The table is a view over `read_parquet` of every `*.parquet` under the data prefix, the
//! partition keys read from the `key=value` directories. Named queries are written for
//! Athena (Trino); DuckDB's dialect differs, so each query runs in a session that has:
//!
//! - the table as `<table>`, `<database>.<table>` and `"<database>"."<table>"` (a DuckDB
//!   schema named after the Glue database), so `CREATE OR REPLACE VIEW <database>.x AS ...`
//!   works as written and lasts for the session (the call);
//! - several statements separated by `;`, run in order (so a view can be created and then
//!   queried in one call); the result is the last statement's;
//! - macros for Athena functions DuckDB names differently: `to_unixtime(ts)` (DuckDB's
//!   `epoch`, seconds as a double) and `approx_distinct(x)` (`approx_count_distinct`).
//!
//! Unavailable locally, so not to be used in named queries that must also run here:
//! `from_iso8601_timestamp`, `json_extract_scalar`, `json_parse` and `date_format` (DuckDB
//! has `CAST(... AS TIMESTAMPTZ)`, `json_extract_string`, `CAST(... AS JSON)` and
//! `strftime`, with other argument conventions). `date_trunc`, `row_number() OVER`,
//! `DATE '...'` literals, timestamps and arrays of structs behave as in Athena.

use std::path::Path;

use duckdb::Connection;
use duckdb::types::Value as Duck;
use serde_json::Value;

use super::schema::{Column, TableSchema, quote_ident};
use super::{WarehouseError, sql_string};

/// A query's result: column names and rows, values as JSON.
///
/// Integers (also `SUM`'s HUGEINT when it fits in 64 bits) and doubles are numbers;
/// decimals, timestamps (`2026-12-03 10:15:30.123`), dates, times and intervals are strings
/// as Athena's API gives them; lists are arrays and structs objects.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Runs `sql` over the Parquet files under `lake_dir` (laid out as
/// `<prefix>/<partition_key>=<value>/.../*.parquet`) exposed as the table `schema.table`,
/// also reachable as `<database>.<table>`, with the partition keys as columns typed by the
/// schema (a `date` key is projected from its `yyyy-MM-dd` text). An empty lake (no files
/// yet) still gives a table with the schema's columns and no rows.
pub fn query(
    lake_dir: &Path,
    data_prefix: &str,
    schema: &TableSchema,
    sql: &str,
) -> Result<QueryResult, WarehouseError> {
    let data_dir = lake_dir.join(data_prefix.trim_matches('/'));
    let conn = Connection::open_in_memory().map_err(WarehouseError::engine("open DuckDB"))?;
    conn.execute_batch(&session_sql(schema, &data_dir, has_parquet(&data_dir)?))
        .map_err(WarehouseError::engine(format!(
            "expose {} as {}.{}",
            data_dir.display(),
            schema.database,
            schema.table
        )))?;

    let statements = split_statements(sql);
    let Some((last, before)) = statements.split_last() else {
        return Err(WarehouseError::Query("the query has no statement".into()));
    };
    for statement in before {
        conn.execute_batch(statement)
            .map_err(|e| WarehouseError::Query(e.to_string()))?;
    }
    run(&conn, last).map_err(|e| WarehouseError::Query(e.to_string()))
}

fn run(conn: &Connection, sql: &str) -> duckdb::Result<QueryResult> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let columns = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| row.get::<_, Duck>(i).map(json))
            .collect::<duckdb::Result<Vec<_>>>()?;
        out.push(values);
    }
    Ok(QueryResult { columns, rows: out })
}

/// Whether any Parquet file lies under `dir`; a missing directory has none.
fn has_parquet(dir: &Path) -> Result<bool, WarehouseError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(WarehouseError::io("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(WarehouseError::io("list", dir))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(WarehouseError::io("stat", &path))?;
        if kind.is_dir() {
            if has_parquet(&path)? {
                return Ok(true);
            }
        } else if path.extension().is_some_and(|e| e == "parquet") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The session's setup: the table's views and the Athena macros.
fn session_sql(schema: &TableSchema, data_dir: &Path, has_files: bool) -> String {
    let projection: Vec<String> = schema
        .columns
        .iter()
        .chain(&schema.partition_keys)
        .map(|c| quote_ident(&c.name))
        .collect();
    let source = if has_files {
        let glob = format!("{}/**/*.parquet", data_dir.display());
        let mut options = vec!["union_by_name = true".to_string()];
        if !schema.partition_keys.is_empty() {
            let types: Vec<String> = schema
                .partition_keys
                .iter()
                .map(|k| format!("{}: {}", sql_string(&k.name), k.ty.duckdb()))
                .collect();
            options.push("hive_partitioning = true".into());
            options.push(format!("hive_types = {{{}}}", types.join(", ")));
        }
        format!(
            "SELECT {} FROM read_parquet({}, {})",
            projection.join(", "),
            sql_string(&glob),
            options.join(", ")
        )
    } else {
        let nulls: Vec<String> = schema
            .columns
            .iter()
            .chain(&schema.partition_keys)
            .map(|Column { name, ty }| {
                format!("CAST(NULL AS {}) AS {}", ty.duckdb(), quote_ident(name))
            })
            .collect();
        format!("SELECT {} WHERE false", nulls.join(", "))
    };
    let database = quote_ident(&schema.database);
    let table = quote_ident(&schema.table);
    format!(
        "CREATE SCHEMA IF NOT EXISTS {database};
         CREATE OR REPLACE VIEW {database}.{table} AS {source};
         CREATE OR REPLACE VIEW main.{table} AS SELECT * FROM {database}.{table};
         CREATE MACRO to_unixtime(ts) AS epoch(ts);
         CREATE MACRO approx_distinct(x) AS approx_count_distinct(x);"
    )
}

/// Splits at the `;` that end statements, not those in strings, quoted identifiers or
/// comments; statements with nothing but whitespace and comments are dropped.
pub(super) fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let (mut start, mut i) = (0, 0);
    let mut has_code = false;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => {
                has_code = true;
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == q {
                        // A doubled quote is an escaped one.
                        if bytes.get(i + 1) == Some(&q) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b';' => {
                if has_code {
                    statements.push(sql[start..i].trim());
                }
                start = i + 1;
                has_code = false;
            }
            c if !c.is_ascii_whitespace() => has_code = true,
            _ => {}
        }
        i += 1;
    }
    if has_code {
        statements.push(sql[start..].trim());
    }
    statements
}

fn json(value: Duck) -> Value {
    match value {
        Duck::Null => Value::Null,
        Duck::Boolean(b) => Value::Bool(b),
        Duck::TinyInt(n) => n.into(),
        Duck::SmallInt(n) => n.into(),
        Duck::Int(n) => n.into(),
        Duck::BigInt(n) => n.into(),
        Duck::UTinyInt(n) => n.into(),
        Duck::USmallInt(n) => n.into(),
        Duck::UInt(n) => n.into(),
        Duck::UBigInt(n) => n.into(),
        Duck::HugeInt(n) => i64::try_from(n).map_or_else(|_| n.to_string().into(), Value::from),
        Duck::UHugeInt(n) => u64::try_from(n).map_or_else(|_| n.to_string().into(), Value::from),
        Duck::Float(f) => float(f64::from(f)),
        Duck::Double(f) => float(f),
        Duck::Decimal(d) => d.to_string().into(),
        Duck::Timestamp(unit, v) => chrono::DateTime::from_timestamp_micros(unit.to_micros(v))
            .map_or_else(
                || v.to_string().into(),
                |t| t.format("%Y-%m-%d %H:%M:%S%.f").to_string().into(),
            ),
        Duck::Date32(days) => chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .map_or_else(|| days.to_string().into(), |d| d.to_string().into()),
        Duck::Time64(unit, v) => {
            let micros = unit.to_micros(v);
            chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                (micros / 1_000_000) as u32,
                (micros % 1_000_000) as u32 * 1000,
            )
            .map_or_else(
                || v.to_string().into(),
                |t| t.format("%H:%M:%S%.f").to_string().into(),
            )
        }
        Duck::Interval {
            months,
            days,
            nanos,
        } => format!("{months} months {days} days {nanos} ns").into(),
        Duck::Text(s) | Duck::Enum(s) => s.into(),
        Duck::Blob(b) | Duck::Geometry(b) => b
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
            .into(),
        Duck::List(items) | Duck::Array(items) => items.into_iter().map(json).collect(),
        Duck::Struct(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), json(v.clone())))
                .collect(),
        ),
        Duck::Map(entries) => entries
            .iter()
            .map(|(k, v)| serde_json::json!({"key": json(k.clone()), "value": json(v.clone())}))
            .collect(),
        Duck::Union(inner) => json(*inner),
        // The enum is non-exhaustive: a type a newer crate adds shows as its debug text.
        other => format!("{other:?}").into(),
    }
}

/// JSON has no NaN or infinity: those become their names.
fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or_else(|| f.to_string().into(), Value::Number)
}

impl QueryResult {
    /// An aligned text table for a terminal, numbers right-aligned, then the row count.
    pub fn to_table(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(cell).collect())
            .collect();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                cells
                    .iter()
                    .filter_map(|row| row.get(i))
                    .map(|c| c.chars().count())
                    .chain([name.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let pad = |text: &str, width: usize, right: bool| {
            let fill = " ".repeat(width - text.chars().count());
            if right {
                format!("{fill}{text}")
            } else {
                format!("{text}{fill}")
            }
        };
        let line = |values: Vec<String>| format!(" {} ", values.join(" | ")).trim_end().to_string();
        let mut out = String::new();
        out += &line(
            self.columns
                .iter()
                .zip(&widths)
                .map(|(n, &w)| pad(n, w, false))
                .collect(),
        );
        out.push('\n');
        out += &widths
            .iter()
            .map(|&w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+");
        out.push('\n');
        for (row, texts) in self.rows.iter().zip(&cells) {
            out += &line(
                texts
                    .iter()
                    .zip(&widths)
                    .zip(row)
                    .map(|((t, &w), v)| pad(t, w, v.is_number()))
                    .collect(),
            );
            out.push('\n');
        }
        let n = self.rows.len();
        out += &format!("({n} row{})\n", if n == 1 { "" } else { "s" });
        out
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::String(s) => s.replace('\n', "\\n"),
        other => other.to_string(),
    }
}
