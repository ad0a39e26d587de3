//! What the warehouse says after a run: the template's named queries over the local
//! lake, for the demo and the soak to compare with the analytics API.

use super::api::DemoError;
use crate::firehose::LakeTable;
use crate::stack::LocalStack;
use crate::warehouse::sql::{QueryResult, query};
use serde_json::Value;
use std::collections::BTreeMap;

/// The lake's answers to the business's questions, each event counted once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// Rows in the lake: one per delivery, duplicates included.
    pub rows: u64,
    /// Distinct event ids.
    pub events: u64,
    /// `revenue_summary` by currency: (orders, cancellations, revenue, discounts), minor units.
    pub by_currency: BTreeMap<String, (u64, u64, i64, i64)>,
}

/// Writes what the delivery streams hold, then asks the lake.
pub async fn answers(stack: &LocalStack) -> Result<Answers, DemoError> {
    stack.lake.flush().await;
    let counts = sql(
        stack,
        &format!(
            "SELECT count(*), count(DISTINCT event_id) FROM {}",
            table(stack)?.schema.table
        ),
    )?;
    let cell =
        |r: &QueryResult, row: usize, col: usize| r.rows.get(row).and_then(|r| r.get(col)).cloned();
    let int = |v: Option<Value>| v.and_then(|v| v.as_i64()).unwrap_or_default();
    let mut answers = Answers {
        rows: int(cell(&counts, 0, 0)) as u64,
        events: int(cell(&counts, 0, 1)) as u64,
        ..Answers::default()
    };
    let summary = named(stack, "revenue_summary")?;
    let col = |name: &str| summary.columns.iter().position(|c| c == name);
    for (i, row) in summary.rows.iter().enumerate() {
        let currency = row
            .get(col("currency").unwrap_or(0))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let get = |name: &str| int(col(name).and_then(|c| cell(&summary, i, c)));
        answers.by_currency.insert(
            currency,
            (
                get("orders") as u64,
                get("cancellations") as u64,
                get("revenue_minor"),
                get("discount_minor"),
            ),
        );
    }
    Ok(answers)
}

/// One of the template's named queries over the lake (as written for Athena).
pub fn named(stack: &LocalStack, name: &str) -> Result<QueryResult, DemoError> {
    let q = stack
        .model
        .named_queries
        .iter()
        .find(|q| q.name == name)
        .ok_or_else(|| DemoError::Read("the lake".into(), format!("no named query {name}")))?;
    sql(stack, &q.query)
}

fn table(stack: &LocalStack) -> Result<LakeTable, DemoError> {
    LakeTable::of(&stack.model, &stack.lake.dir).map_err(|e| DemoError::Read("the lake".into(), e))
}

fn sql(stack: &LocalStack, q: &str) -> Result<QueryResult, DemoError> {
    let t = table(stack)?;
    query(&t.dir, &t.data_prefix, &t.schema, q)
        .map_err(|e| DemoError::Read(format!("the lake: {q}"), e.to_string()))
}
