//! The data warehouse on one machine. On AWS, Firehose converts each JSON event to Parquet
//! against the Glue table's schema and Athena queries the lake; here [`schema::conform`]
//! does the conversion's record checks, [`parquet::write_parquet`] writes the files and
//! [`sql::query`] runs the analysts' SQL, both with an embedded DuckDB.

pub mod parquet;
pub mod schema;
pub mod sql;

use std::path::PathBuf;

pub use parquet::write_parquet;
pub use schema::{Column, GlueType, RecordError, SchemaError, TableSchema, conform};
pub use sql::{QueryResult, query};

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The SQL given to [`query`] is wrong: DuckDB's message says how.
    #[error("the query failed: {0}")]
    Query(String),
    /// DuckDB failed on SQL this module wrote (a bug here or in the data, not the query's).
    #[error("DuckDB failed to {action}: {message}")]
    Engine { action: String, message: String },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl WarehouseError {
    fn engine(action: impl Into<String>) -> impl FnOnce(duckdb::Error) -> WarehouseError {
        let action = action.into();
        move |e| WarehouseError::Engine {
            action,
            message: e.to_string(),
        }
    }

    fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| WarehouseError::Io {
            action,
            path,
            source,
        }
    }
}

/// A path as a DuckDB string literal.
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests;
