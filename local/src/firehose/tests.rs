//! The delivery stream's buffering, partitioning, conversion and error records, against an
//! object store in memory (the lake test runs the same through moto's S3).

use super::*;
use crate::warehouse::schema::{Column, GlueType};
use serde_json::json;

#[derive(Default)]
struct Memory(Mutex<BTreeMap<String, Vec<u8>>>);

impl ObjectStore for Memory {
    fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        lock(&self.0).insert(format!("{bucket}/{key}"), body);
        Box::pin(async { Ok(()) })
    }
}

impl Memory {
    fn keys(&self) -> Vec<String> {
        lock(&self.0).keys().cloned().collect()
    }
}

fn schema() -> TableSchema {
    let col = |name: &str, ty| Column {
        name: name.into(),
        ty,
    };
    TableSchema {
        database: "db".into(),
        table: "events".into(),
        columns: vec![col("id", GlueType::String), col("n", GlueType::Int)],
        partition_keys: vec![col("type", GlueType::String)],
    }
}

fn spec(interval: Duration, size_bytes: usize, conversion: bool) -> StreamSpec {
    StreamSpec {
        name: "s".into(),
        bucket: "b".into(),
        prefix: Prefix::parse("events/type=!{partitionKeyFromQuery:type}/").unwrap(),
        error_prefix: Prefix::parse("errors/!{firehose:error-output-type}/").unwrap(),
        interval,
        size_bytes,
        partitioning: Some(PartitionQuery::parse("{type: .type}").unwrap()),
        conversion: conversion.then(|| Conversion {
            schema: schema(),
            timestamp_formats: vec![],
        }),
        file_extension: ".parquet".into(),
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("firehose-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

async fn put(streams: &DeliveryStreams, record: serde_json::Value) {
    streams
        .put_record("s", record.to_string().into_bytes())
        .await
        .expect("accepted");
}

#[tokio::test]
async fn one_object_per_partition_and_a_bad_record_under_the_error_prefix() {
    let store = Arc::new(Memory::default());
    let local = dir("partitions");
    let streams = DeliveryStreams::new(
        vec![spec(Duration::from_secs(3600), 1 << 20, true)],
        store.clone(),
        local.clone(),
    )
    .unwrap();
    put(&streams, json!({"id": "a", "n": 1, "type": "Placed"})).await;
    put(&streams, json!({"id": "b", "n": 2, "type": "Placed"})).await;
    put(&streams, json!({"id": "c", "n": 3, "type": "Canceled"})).await;
    put(
        &streams,
        json!({"id": "d", "n": "three", "type": "Canceled"}),
    )
    .await;
    // Partitioning fails: no type. Written at once, under its own error type.
    put(&streams, json!({"id": "e", "n": 5})).await;
    assert_eq!(
        streams.buffered(),
        4,
        "nothing is written before the buffer is due"
    );
    streams.flush().await;
    assert_eq!(streams.buffered(), 0);

    let keys = store.keys();
    let under = |p: &str| keys.iter().filter(|k| k.starts_with(p)).count();
    assert_eq!(under("b/events/type=Placed/s-1-"), 1, "{keys:?}");
    assert_eq!(under("b/events/type=Canceled/s-1-"), 1, "{keys:?}");
    assert_eq!(
        under("b/errors/format-conversion-failed/s-1-"),
        1,
        "{keys:?}"
    );
    assert_eq!(under("b/errors/partitioning-failed/s-1-"), 1, "{keys:?}");
    assert!(
        keys.iter()
            .filter(|k| k.starts_with("b/events/"))
            .all(|k| k.ends_with(".parquet"))
    );
    let errors: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("b/errors/format"))
        .collect();
    let line: serde_json::Value = serde_json::from_slice(&lock(&store.0)[errors[0]]).unwrap();
    assert_eq!(line["errorCode"], "DataFormatConversion.MalformedData");
    assert!(
        line["errorMessage"].as_str().unwrap().contains('n'),
        "{line}"
    );
    let raw = crate::encoding::base64_decode(line["rawData"].as_str().unwrap()).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&raw).unwrap()["id"],
        "d"
    );
    // The local copy holds the same objects.
    for k in &keys {
        let local_file = local.join(k);
        assert_eq!(
            std::fs::read(&local_file).ok().as_ref(),
            lock(&store.0).get(k),
            "{k}"
        );
    }
    assert_eq!(
        streams.counters(),
        Counters {
            records: 3,
            objects: 2,
            error_records: 2,
            write_errors: 0
        }
    );
    let _ = std::fs::remove_dir_all(local);
}

#[tokio::test]
async fn a_full_buffer_or_an_old_one_is_written_by_the_timer() {
    for (interval, size) in [
        (Duration::from_secs(3600), 10),
        (Duration::from_millis(50), 1 << 20),
    ] {
        let store = Arc::new(Memory::default());
        let streams = DeliveryStreams::new(
            vec![spec(interval, size, false)],
            store.clone(),
            dir("timer"),
        )
        .unwrap();
        let timer = streams.spawn_timer();
        put(&streams, json!({"type": "T", "n": 1})).await;
        put(&streams, json!({"type": "T", "n": 2})).await;
        let start = Instant::now();
        while store.keys().is_empty() && start.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        streams.stop_timer(&timer).await;
        let keys = store.keys();
        assert_eq!(keys.len(), 1, "{interval:?}/{size}: {keys:?}");
        // Without conversion the records are written as they came, one after another.
        assert_eq!(
            lock(&store.0)[&keys[0]],
            br#"{"n":1,"type":"T"}{"n":2,"type":"T"}"#.to_vec()
        );
    }
}

#[tokio::test]
async fn an_unknown_stream_is_refused_and_a_prefix_key_the_query_lacks_is_a_config_error() {
    let streams = DeliveryStreams::new(vec![], Arc::new(Memory::default()), dir("none")).unwrap();
    assert_eq!(
        streams.put_record("nope", b"{}".to_vec()).await,
        Err(PutRecordError::NoSuchStream("nope".into()))
    );
    let mut bad = spec(Duration::from_secs(1), 1, false);
    bad.partitioning = None;
    assert!(matches!(
        DeliveryStreams::new(vec![bad], Arc::new(Memory::default()), dir("bad")),
        Err(FirehoseError::Config { .. })
    ));
}
