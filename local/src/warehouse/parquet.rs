//! Parquet files as Firehose writes them after record format conversion.

use std::path::Path;

use duckdb::Connection;
use serde_json::{Map, Value};

use super::schema::{GlueType, TableSchema, quote_ident};
use super::{WarehouseError, sql_string};

/// Writes conformed rows as one Parquet file (SNAPPY), columns in schema order with the
/// schema's types (not inferred), via DuckDB. The parent directories are created; the file
/// appears whole (written beside it under a name no `*.parquet` glob matches, then renamed),
/// so a concurrent query never reads half of it. No rows give a file with the columns only.
pub fn write_parquet(
    rows: &[Map<String, Value>],
    schema: &TableSchema,
    out: &Path,
) -> Result<(), WarehouseError> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        std::fs::create_dir_all(parent).map_err(WarehouseError::io("create", parent))?;
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = out.with_file_name(format!(".{name}.partial"));

    let conn = Connection::open_in_memory().map_err(WarehouseError::engine("open DuckDB"))?;
    let columns: Vec<String> = schema
        .columns
        .iter()
        .map(|c| format!("{} {}", quote_ident(&c.name), c.ty.duckdb()))
        .collect();
    conn.execute_batch(&format!("CREATE TABLE t ({})", columns.join(", ")))
        .map_err(WarehouseError::engine(format!(
            "create a table for {}.{}",
            schema.database, schema.table
        )))?;
    if !rows.is_empty() {
        // One JSON array bound as a parameter, typed by the schema: strict, so a row that
        // did not go through `conform` fails instead of becoming nulls.
        let structure: Map<String, Value> = schema
            .columns
            .iter()
            .map(|c| (c.name.clone(), structure(&c.ty)))
            .collect();
        let structure = Value::Array(vec![Value::Object(structure)]).to_string();
        let select: Vec<String> = schema
            .columns
            .iter()
            .map(|c| format!("r.{}", quote_ident(&c.name)))
            .collect();
        let rows_json = serde_json::to_string(rows).map_err(|e| WarehouseError::Engine {
            action: "encode the rows".into(),
            message: e.to_string(),
        })?;
        conn.execute(
            &format!(
                "INSERT INTO t SELECT {} FROM (SELECT unnest(json_transform_strict(?::JSON, {})) AS r)",
                select.join(", "),
                sql_string(&structure)
            ),
            [rows_json],
        )
        .map_err(WarehouseError::engine(format!(
            "load {} rows of {}.{}",
            rows.len(),
            schema.database,
            schema.table
        )))?;
    }
    let target = partial.to_string_lossy();
    conn.execute_batch(&format!(
        "COPY t TO {} (FORMAT parquet, COMPRESSION snappy)",
        sql_string(&target)
    ))
    .map_err(WarehouseError::engine(format!("write {target}")))?;
    std::fs::rename(&partial, out).map_err(WarehouseError::io("rename into place", out))
}

/// The type as DuckDB's `json_transform` structure: a type name, `[element]` or an object.
fn structure(ty: &GlueType) -> Value {
    match ty {
        GlueType::Array(inner) => Value::Array(vec![structure(inner)]),
        GlueType::Struct(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, ty)| (name.clone(), structure(ty)))
                .collect(),
        ),
        scalar => Value::String(scalar.duckdb()),
    }
}
