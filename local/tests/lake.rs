//! The warehouse end to end through the local stack: events put on the bus reach the lake
//! rules, their InputTransformers flatten them, the delivery stream writes Parquet to the
//! bucket in moto's S3 under the template's partitions (and a copy under the stack's lake
//! directory), a record that does not fit the Glue table lands under the error prefix,
//! and SQL over the lake counts each event once.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use eventmart_local::firehose::LakeTable;
use eventmart_local::log::LogMode;
use eventmart_local::stack::{LocalStack, StackOptions};
use eventmart_local::warehouse::sql::query;
use serde_json::{Value, json};
use std::collections::BTreeMap;

mod support;
use support::root;

/// Every bus sample, by detail-type.
fn samples() -> BTreeMap<String, Value> {
    std::fs::read_dir(root().join("events/eventbridge"))
        .unwrap()
        .map(|e| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            (v["detail-type"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

fn entry(event: &Value, bus: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(event["source"].as_str().unwrap())
        .detail_type(event["detail-type"].as_str().unwrap())
        .detail(event["detail"].to_string())
        .build()
}

async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_land_in_the_lake_once_per_delivery_and_queries_count_each_once() {
    let mut o = StackOptions::new(root());
    o.log = LogMode::Quiet;
    let stack = LocalStack::start(o)
        .await
        .unwrap_or_else(|e| panic!("stack did not start: {e}"));
    let bus = stack.model.buses[0].name.clone();
    let conf = aws_sdk_eventbridge::config::Builder::from(&stack.sdk)
        .endpoint_url(stack.endpoints().eventbridge)
        .build();
    let eb = aws_sdk_eventbridge::Client::from_conf(conf);

    let samples = samples();
    let placed = &samples["OrderPlaced"];
    // A record the table cannot take: a quantity that is not an integer.
    let mut bad = placed.clone();
    bad["detail"]["metadata"]["eventId"] = json!("0193b3a4-aaaa-7000-8000-00000000bad1");
    bad["detail"]["data"]["items"][0]["quantity"] = json!("two");
    let mut entries: Vec<PutEventsRequestEntry> =
        samples.values().map(|e| entry(e, &bus)).collect();
    // The same OrderPlaced again: a second delivery, a second row, the same event.
    entries.push(entry(placed, &bus));
    entries.push(entry(&bad, &bus));
    for chunk in entries.chunks(10) {
        let out = eb
            .put_events()
            .set_entries(Some(chunk.to_vec()))
            .send()
            .await
            .expect("PutEvents");
        assert_eq!(out.failed_entry_count(), 0);
    }
    stack.settle().await;
    stack.lake.flush().await;

    let lake = LakeTable::of(&stack.model, &stack.lake.dir).unwrap();
    let bucket = stack.model.buckets[0].name.clone();
    let s3 = eventmart_local::stack::s3_client(&stack.sdk);
    let keys = list_keys(&s3, &bucket).await;

    // Partitioned by type and by the day the event occurred (the samples' 2026-11-20).
    for (detail_type, event) in &samples {
        let day = &event["detail"]["metadata"]["occurredAt"].as_str().unwrap()[..10];
        let prefix = format!("events/type={detail_type}/day={day}/eventmart-dev-lake-1-");
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&prefix) && k.ends_with(".parquet")),
            "no object under {prefix} in {keys:?}"
        );
    }
    // The bad record, under the error prefix with its reason and its data.
    let errors: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("errors/format-conversion-failed/day="))
        .collect();
    assert_eq!(errors.len(), 1, "{keys:?}");
    let body = s3
        .get_object()
        .bucket(&bucket)
        .key(errors[0])
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let lines: Vec<Value> = std::str::from_utf8(&body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let raw =
        eventmart_local::encoding::base64_decode(lines[0]["rawData"].as_str().unwrap()).unwrap();
    let record: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(record["event_id"], "0193b3a4-aaaa-7000-8000-00000000bad1");
    assert!(
        lines[0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("quantity"),
        "{}",
        lines[0]
    );

    // The local copy is the bucket's object, byte for byte.
    let parquet = keys.iter().find(|k| k.ends_with(".parquet")).unwrap();
    let in_s3 = s3
        .get_object()
        .bucket(&bucket)
        .key(parquet)
        .send()
        .await
        .unwrap();
    let in_s3 = in_s3.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        std::fs::read(lake.dir.join(parquet)).unwrap(),
        in_s3.to_vec()
    );

    // One row per delivery: the sample OrderPlaced twice, every other sample once (the
    // consumers' own events, FulfillmentStarted and the like, land beside them).
    let sql = |q: &str| query(&lake.dir, &lake.data_prefix, &lake.schema, q).unwrap();
    let rows = sql("SELECT type, event_id, count(*) FROM eventmart_dev.events GROUP BY ALL");
    let got: BTreeMap<(String, String), i64> = rows
        .rows
        .iter()
        .map(|r| {
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            ((text(&r[0]), text(&r[1])), r[2].as_i64().unwrap())
        })
        .collect();
    for (detail_type, event) in &samples {
        let id = event["detail"]["metadata"]["eventId"]
            .as_str()
            .unwrap()
            .to_owned();
        let want = if detail_type == "OrderPlaced" { 2 } else { 1 };
        assert_eq!(
            got.get(&(detail_type.clone(), id)),
            Some(&want),
            "{detail_type}: {got:?}"
        );
    }
    assert!(
        !got.keys().any(|(_, id)| id.ends_with("bad1")),
        "the record that did not convert is not in the table"
    );
    // The template's de-duplicated view counts each event once.
    let view = stack
        .model
        .named_queries
        .iter()
        .find(|q| q.name == "distinct_events")
        .unwrap();
    let distinct = sql(&format!(
        "{}; SELECT count(*), count(DISTINCT event_id) FROM distinct_events",
        view.query
    ));
    assert_eq!(distinct.rows[0][0], json!(got.len()));
    assert_eq!(distinct.rows[0][1], json!(got.len()));

    // The template's named query: the sample order's lines, its one event counted once.
    let named = stack
        .model
        .named_queries
        .iter()
        .find(|q| q.name == "revenue_by_sku")
        .unwrap();
    let revenue = sql(&named.query);
    let items = placed["detail"]["data"]["items"].as_array().unwrap();
    assert_eq!(revenue.rows.len(), items.len(), "{revenue:?}");
    for item in items {
        let sku = item["sku"].as_str().unwrap();
        let row = revenue
            .rows
            .iter()
            .find(|r| r[1] == json!(sku))
            .unwrap_or_else(|| panic!("{sku} in {revenue:?}"));
        let quantity = item["quantity"].as_i64().unwrap();
        let price = item["unitPrice"]["amountMinor"].as_i64().unwrap();
        assert_eq!(row[3], json!(quantity), "{sku} units");
        assert_eq!(row[4], json!(quantity * price), "{sku} revenue");
    }

    // Every named query of the template runs here as written for Athena.
    let by_name = |name: &str| {
        let q = stack
            .model
            .named_queries
            .iter()
            .find(|q| q.name == name)
            .unwrap();
        sql(&q.query)
    };
    let data = &placed["detail"]["data"];
    let (total, discount) = (&data["total"], &data["discount"]);
    let summary = by_name("revenue_summary");
    assert_eq!(
        summary.rows,
        [vec![
            total["currency"].clone(),
            json!(1),
            json!(1),
            total["amountMinor"].clone(),
            discount["amountMinor"].clone()
        ]],
        "one order (its copy counted once) and its cancel"
    );
    let canceled = &samples["OrderCanceled"]["detail"]["data"];
    assert_eq!(
        by_name("cancellations").rows,
        [vec![canceled["reason"].clone(), json!(0), json!(1)]],
        "canceled in the hour it was placed"
    );
    // Both membership samples occurred on Friday 2026-11-20: the week of Monday the 16th.
    assert_eq!(
        by_name("churn_by_plan").rows,
        [vec![
            json!("annual"),
            json!("2026-11-16"),
            json!(1),
            json!(1)
        ]]
    );
    for q in &stack.model.named_queries {
        query(&lake.dir, &lake.data_prefix, &lake.schema, &q.query)
            .unwrap_or_else(|e| panic!("named query {}: {e}", q.name));
    }

    // The files read back with the types the Glue table declares.
    let described = sql("DESCRIBE SELECT * FROM eventmart_dev.events");
    let types: Vec<(String, String)> = described
        .rows
        .iter()
        .map(|r| {
            let text = |v: &Value| v.as_str().unwrap().replace('"', "");
            (text(&r[0]), text(&r[1]))
        })
        .collect();
    let declared: Vec<(String, String)> = lake
        .schema
        .columns
        .iter()
        .chain(&lake.schema.partition_keys)
        .map(|c| (c.name.clone(), c.ty.duckdb().replace('"', "")))
        .collect();
    assert_eq!(types, declared);
    stack.shutdown().await;
}
