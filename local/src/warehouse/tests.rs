//! The warehouse against a real DuckDB: files written, read back and queried.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value, json};

use super::*;

/// A directory of its own under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "eventmart-warehouse-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ITEMS: &str =
    "array<struct<sku:string,quantity:int,unitPrice:struct<amountMinor:bigint,currency:string>>>";

fn events_schema() -> TableSchema {
    let column = |name: &str, ty: &str| Column {
        name: name.into(),
        ty: GlueType::parse(ty).unwrap(),
    };
    TableSchema {
        database: "eventmart_dev".into(),
        table: "events".into(),
        columns: vec![
            column("eventId", "string"),
            column("occurredAt", "timestamp"),
            column("quantity", "int"),
            column("totalMinor", "bigint"),
            column("ratio", "double"),
            column("member", "boolean"),
            column("placedOn", "date"),
            column("items", ITEMS),
        ],
        partition_keys: vec![column("type", "string"), column("day", "date")],
    }
}

fn row(event_id: &str, at: &str, total: i64, sku: &str) -> Map<String, Value> {
    let record = json!({
        "eventId": event_id,
        "occurredAt": at,
        "quantity": 2,
        "totalMinor": total,
        "ratio": 0.5,
        "member": false,
        "placedOn": "2026-12-03",
        "items": [{"sku": sku, "quantity": 2, "unitPrice": {"amountMinor": total / 2, "currency": "EUR"}}],
    });
    conform(
        &record,
        &events_schema(),
        &["yyyy-MM-dd'T'HH:mm:ss.SSSZZ".to_string()],
    )
    .unwrap()
}

/// Rows of a DuckDB query, each as its JSON text.
fn duck_rows(sql: &str) -> Vec<Vec<String>> {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let n = rows.as_ref().unwrap().column_count();
    let mut out = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        out.push((0..n).map(|i| r.get::<_, String>(i).unwrap()).collect());
    }
    out
}

fn path_literal(path: &Path) -> String {
    sql_string(&path.to_string_lossy())
}

#[test]
fn write_parquet_keeps_the_schema_types_and_values() {
    let dir = TempDir::new("write");
    let out = dir
        .0
        .join("events/type=OrderPlaced/day=2026-12-03/part-1.parquet");
    let rows = [
        row("e1", "2026-12-03T10:15:30.123Z", 2500, "S1"),
        conform(&json!({"eventId": "e2"}), &events_schema(), &[]).unwrap(),
    ];
    write_parquet(&rows, &events_schema(), &out).unwrap();

    let file = path_literal(&out);
    let described = duck_rows(&format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({file}, hive_partitioning = false))"
    ));
    let described: Vec<(String, String)> = described
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("eventId", "VARCHAR"),
        ("occurredAt", "TIMESTAMP"),
        ("quantity", "INTEGER"),
        ("totalMinor", "BIGINT"),
        ("ratio", "DOUBLE"),
        ("member", "BOOLEAN"),
        ("placedOn", "DATE"),
        (
            "items",
            "STRUCT(sku VARCHAR, quantity INTEGER, unitPrice STRUCT(amountMinor BIGINT, currency VARCHAR))[]",
        ),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(described, want);

    let values = duck_rows(&format!(
        "SELECT to_json(p)::VARCHAR FROM read_parquet({file}, hive_partitioning = false) p ORDER BY eventId"
    ));
    let values: Vec<Value> = values
        .iter()
        .map(|r| serde_json::from_str(&r[0]).unwrap())
        .collect();
    assert_eq!(
        values,
        [
            json!({"eventId": "e1", "occurredAt": "2026-12-03 10:15:30.123", "quantity": 2,
                   "totalMinor": 2500, "ratio": 0.5, "member": false, "placedOn": "2026-12-03",
                   "items": [{"sku": "S1", "quantity": 2,
                              "unitPrice": {"amountMinor": 1250, "currency": "EUR"}}]}),
            json!({"eventId": "e2", "occurredAt": null, "quantity": null, "totalMinor": null,
                   "ratio": null, "member": null, "placedOn": null, "items": null}),
        ]
    );
    assert_eq!(
        duck_rows(&format!(
            "SELECT DISTINCT compression FROM parquet_metadata({file})"
        )),
        [["SNAPPY"]]
    );
    // Only the file itself is left: the partial name was renamed.
    let names: Vec<String> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["part-1.parquet"]);
}

#[test]
fn write_parquet_with_no_rows_writes_the_columns() {
    let dir = TempDir::new("empty-file");
    let out = dir.0.join("empty.parquet");
    write_parquet(&[], &events_schema(), &out).unwrap();
    let file = path_literal(&out);
    assert_eq!(
        duck_rows(&format!(
            "SELECT count(*)::VARCHAR, (SELECT count(*) FROM (DESCRIBE SELECT * FROM read_parquet({file})))::VARCHAR FROM read_parquet({file})"
        )),
        [["0", "8"]]
    );
}

#[test]
fn write_parquet_rejects_rows_that_do_not_fit_the_schema() {
    let dir = TempDir::new("bad-row");
    let out = dir.0.join("bad.parquet");
    let mut bad = row("e1", "2026-12-03T10:15:30.123Z", 1, "S");
    bad.insert("quantity".into(), json!("two"));
    let err = write_parquet(&[bad], &events_schema(), &out).unwrap_err();
    assert!(
        matches!(&err, WarehouseError::Engine { action, .. } if action == "load 1 rows of eventmart_dev.events"),
        "{err}"
    );
    assert!(!out.exists());
}

/// Two event types over two days, with `e1` delivered twice (in two files).
fn lake() -> TempDir {
    let dir = TempDir::new("lake");
    let schema = events_schema();
    let put = |part: &str, rows: &[Map<String, Value>]| {
        write_parquet(rows, &schema, &dir.0.join("events").join(part)).unwrap();
    };
    put(
        "type=OrderPlaced/day=2026-12-03/a.parquet",
        &[
            row("e1", "2026-12-03T10:00:00.000Z", 1000, "S1"),
            row("e2", "2026-12-03T11:00:00.500Z", 2000, "S2"),
        ],
    );
    put(
        "type=OrderPlaced/day=2026-12-03/b.parquet",
        &[row("e1", "2026-12-03T10:00:00.000Z", 1000, "S1")],
    );
    put(
        "type=OrderPlaced/day=2026-12-04/c.parquet",
        &[row("e3", "2026-12-04T09:30:00.000Z", 3000, "S3")],
    );
    put(
        "type=OrderCanceled/day=2026-12-03/d.parquet",
        &[row("e4", "2026-12-03T12:00:00.000Z", 4000, "S4")],
    );
    dir
}

fn rows_of(result: &QueryResult) -> Value {
    json!(result.rows)
}

#[test]
fn query_groups_across_partitions() {
    let lake = lake();
    let result = query(
        &lake.0,
        "events",
        &events_schema(),
        "SELECT type, count(*) AS n, sum(totalMinor) AS total FROM events GROUP BY type ORDER BY type",
    )
    .unwrap();
    assert_eq!(result.columns, ["type", "n", "total"]);
    assert_eq!(
        rows_of(&result),
        json!([["OrderCanceled", 1, 4000], ["OrderPlaced", 4, 7000]])
    );
}

#[test]
fn query_deduplicates_with_row_number() {
    let lake = lake();
    let sql = "SELECT type, count(*) AS n FROM (
                 SELECT type, row_number() OVER (PARTITION BY eventId ORDER BY occurredAt) AS rn
                 FROM eventmart_dev.events)
               WHERE rn = 1 GROUP BY type ORDER BY type";
    let result = query(&lake.0, "events/", &events_schema(), sql).unwrap();
    assert_eq!(
        rows_of(&result),
        json!([["OrderCanceled", 1], ["OrderPlaced", 3]])
    );
}

#[test]
fn query_filters_on_a_date_partition() {
    let lake = lake();
    let sql = r#"SELECT eventId, type, day, occurredAt, items[1].sku AS sku
                 FROM "eventmart_dev"."events" WHERE day = DATE '2026-12-03'
                 ORDER BY occurredAt, eventId"#;
    let result = query(&lake.0, "events", &events_schema(), sql).unwrap();
    assert_eq!(
        rows_of(&result),
        json!([
            [
                "e1",
                "OrderPlaced",
                "2026-12-03",
                "2026-12-03 10:00:00",
                "S1"
            ],
            [
                "e1",
                "OrderPlaced",
                "2026-12-03",
                "2026-12-03 10:00:00",
                "S1"
            ],
            [
                "e2",
                "OrderPlaced",
                "2026-12-03",
                "2026-12-03 11:00:00.500",
                "S2"
            ],
            [
                "e4",
                "OrderCanceled",
                "2026-12-03",
                "2026-12-03 12:00:00",
                "S4"
            ],
        ])
    );
    let types = query(
        &lake.0,
        "events",
        &events_schema(),
        "SELECT column_name, column_type FROM (DESCRIBE eventmart_dev.events) WHERE column_name IN ('type', 'day')",
    )
    .unwrap();
    assert_eq!(
        rows_of(&types),
        json!([["type", "VARCHAR"], ["day", "DATE"]])
    );
}

#[test]
fn query_runs_athena_views_and_functions() {
    let lake = lake();
    let sql = "CREATE OR REPLACE VIEW eventmart_dev.daily AS
                 SELECT day, sum(totalMinor) AS total FROM eventmart_dev.events GROUP BY day;
               -- the view lasts for the call
               SELECT * FROM eventmart_dev.daily ORDER BY day;";
    let result = query(&lake.0, "events", &events_schema(), sql).unwrap();
    assert_eq!(result.columns, ["day", "total"]);
    assert_eq!(
        rows_of(&result),
        json!([["2026-12-03", 8000], ["2026-12-04", 3000]])
    );
    let result = query(
        &lake.0,
        "events",
        &events_schema(),
        "SELECT approx_distinct(eventId) AS ids, to_unixtime(max(occurredAt)) AS latest FROM events",
    )
    .unwrap();
    assert_eq!(rows_of(&result), json!([[4, 1796376600.0]]));
}

#[test]
fn query_over_an_empty_lake_has_the_columns_and_no_rows() {
    let dir = TempDir::new("no-lake");
    let result = query(
        &dir.0,
        "events",
        &events_schema(),
        "SELECT count(*) AS n FROM eventmart_dev.events WHERE day = DATE '2026-12-03'",
    )
    .unwrap();
    assert_eq!(rows_of(&result), json!([[0]]));
    let result = query(&dir.0, "events", &events_schema(), "SELECT * FROM events").unwrap();
    assert_eq!(
        result.columns,
        [
            "eventId",
            "occurredAt",
            "quantity",
            "totalMinor",
            "ratio",
            "member",
            "placedOn",
            "items",
            "type",
            "day"
        ]
    );
    assert!(result.rows.is_empty());
}

#[test]
fn bad_sql_is_the_querys_fault() {
    let lake = lake();
    let err = query(
        &lake.0,
        "events",
        &events_schema(),
        "SELECT nope FROM events",
    )
    .unwrap_err();
    let WarehouseError::Query(message) = &err else {
        panic!("not a query error: {err}");
    };
    assert!(message.contains("\"nope\""), "{message}");
    assert!(
        err.to_string()
            .starts_with("the query failed: Binder Error"),
        "{err}"
    );
    let err = query(&lake.0, "events", &events_schema(), " ; -- nothing\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the query failed: the query has no statement"
    );
    let err = query(&lake.0, "events", &events_schema(), "SELEC 1").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the query failed: Parser Error"),
        "{err}"
    );
}

#[test]
fn splits_statements_outside_strings_and_comments() {
    assert_eq!(
        sql::split_statements(
            "SELECT 'a;b' AS \"x;y\"; -- c;d\n/* e;f */ SELECT 2;; SELECT 'it''s;'"
        ),
        [
            "SELECT 'a;b' AS \"x;y\"",
            "-- c;d\n/* e;f */ SELECT 2",
            "SELECT 'it''s;'"
        ]
    );
    assert!(sql::split_statements("  -- only a comment\n").is_empty());
}

#[test]
fn to_table_aligns_columns() {
    let result = QueryResult {
        columns: vec!["type".into(), "n".into(), "note".into()],
        rows: vec![
            vec![json!("OrderPlaced"), json!(12), Value::Null],
            vec![json!("X"), json!(3), json!("two\nlines")],
        ],
    };
    assert_eq!(
        result.to_table(),
        " type        | n  | note\n\
         -------------+----+------------\n \
         OrderPlaced | 12 | NULL\n \
         X           |  3 | two\\nlines\n\
         (2 rows)\n"
    );
    let empty = QueryResult {
        columns: vec!["n".into()],
        rows: vec![vec![json!(1)]],
    };
    assert_eq!(empty.to_table(), " n\n---\n 1\n(1 row)\n");
}
