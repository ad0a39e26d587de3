//! The helpers every integration test builds on: the template's tables are created as
//! the model describes them (keys, stream, TTL), and a table's outbox items read back
//! into the events a producer wrote.

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, TimeToLiveStatus};
use eventmart_shared::events::Event;
use eventmart_shared::outbox;
use eventmart_tests::{create_tables, dynamodb, fixture, outbox_events, stack};
use std::collections::HashMap;

#[tokio::test]
async fn tables_are_created_with_the_models_keys_stream_and_ttl() {
    let (client, _) = dynamodb().await;
    let names = create_tables(&client).await;
    assert_eq!(names.len(), stack().tables.len());
    for table in &stack().tables {
        let name = &names[&table.logical_id];
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let keys: Vec<(String, KeyType)> = described
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
            .collect();
        let expected: Vec<(String, KeyType)> = table
            .key_schema
            .iter()
            .map(|k| {
                let ty = KeyType::from(k.key_type.as_str());
                (k.attribute_name.clone(), ty)
            })
            .collect();
        assert_eq!(keys, expected, "{name}");
        let view = described
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned());
        assert_eq!(
            view.as_deref(),
            table.stream_view_type.map(|v| v.as_str()),
            "{name}"
        );
        let ttl = client
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .time_to_live_description
            .unwrap();
        let enabled = ttl.time_to_live_status() == Some(&TimeToLiveStatus::Enabled);
        assert_eq!(
            ttl.attribute_name().filter(|_| enabled),
            table.ttl_attribute.as_deref(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn outbox_events_are_the_events_producers_wrote_in_order() {
    let (client, _) = dynamodb().await;
    let table = &create_tables(&client).await["OrdersTable"];
    let mut events: Vec<Event> = ["OrderPlaced", "OrderCanceled"]
        .iter()
        .map(|ty| Event::from_eventbridge(&fixture(&format!("events/eventbridge/{ty}.json"))))
        .collect::<Result<_, _>>()
        .unwrap();
    let order = HashMap::from([
        ("pk".to_owned(), AttributeValue::S("ORDER#1".to_owned())),
        ("kind".to_owned(), AttributeValue::S("order".to_owned())),
    ]);
    client
        .put_item()
        .table_name(table)
        .set_item(Some(order))
        .send()
        .await
        .unwrap();
    for event in &events {
        client
            .transact_write_items()
            .transact_items(outbox::put(table, event, 1_700_000_000))
            .send()
            .await
            .unwrap();
    }
    events.sort_by_key(|e| e.metadata().event_id.to_string());
    assert_eq!(outbox_events(&client, table).await, events);
}
