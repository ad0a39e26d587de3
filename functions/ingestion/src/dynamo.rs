//! The DynamoDB write plan: the event item and the day's `ADD` of counters.

use crate::domain::{DAILY, Ingest};
use crate::ports::WritePlan;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use eventmart_shared::dynamo::{Item, n, s};
use serde_json::Value;
use std::collections::HashMap;

pub fn event_key(ingest: &Ingest) -> String {
    format!("EVENT#{}", ingest.event_id)
}

/// `ANALYTICS_EVENTS_TABLE` and `ANALYTICS_DAILY_TABLE`.
#[derive(Debug, Clone)]
pub struct DynamoPlan {
    events_table: String,
    daily_table: String,
}

impl DynamoPlan {
    pub fn new(events_table: impl Into<String>, daily_table: impl Into<String>) -> Self {
        Self {
            events_table: events_table.into(),
            daily_table: daily_table.into(),
        }
    }
}

impl WritePlan for DynamoPlan {
    type Write = TransactWriteItem;

    fn writes(&self, what: &Ingest, detail: &Value) -> Vec<TransactWriteItem> {
        let item = Item::from([
            ("pk".to_owned(), s(event_key(what))),
            ("source".to_owned(), s(what.source)),
            ("detailType".to_owned(), s(what.detail_type)),
            ("occurredAt".to_owned(), s(&what.occurred_at)),
            ("day".to_owned(), s(&what.day)),
            ("detail".to_owned(), s(detail.to_string())),
        ]);
        let put = Put::builder()
            .table_name(&self.events_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("table and item are set");
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        if what.increments.is_empty() {
            return writes;
        }
        // Placeholders for every counter: names like grossRevenue_EUR are data.
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut adds = vec![];
        for (i, inc) in what.increments.iter().enumerate() {
            names.insert(format!("#c{i}"), inc.counter.clone());
            values.insert(format!(":v{i}"), n(inc.by));
            adds.push(format!("#c{i} :v{i}"));
        }
        let update = Update::builder()
            .table_name(&self.daily_table)
            .key("series", s(DAILY))
            .key("day", s(&what.day))
            .update_expression(format!("ADD {}", adds.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .expect("table, key and expression are set");
        writes.push(TransactWriteItem::builder().update(update).build());
        writes
    }
}
