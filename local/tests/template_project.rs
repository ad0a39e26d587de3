//! The project's template.yaml, loaded as the local stack loads it.

use eventmart_local::template::{
    Architecture, BillingMode, KeyType, LocalNaming, RouteAuth, RuleTarget, Stack,
    StartingPosition, StreamViewType,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const MOTO: &str = "http://127.0.0.1:45999";
const ACCOUNT: &str = "123456789012";

fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

fn load() -> Stack {
    let naming = LocalNaming::new(MOTO);
    match Stack::load(&template_path(), &naming, &BTreeMap::new()) {
        Ok(s) => s,
        Err(e) => panic!("template.yaml does not load: {e}"),
    }
}

fn ids<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    items.collect()
}

#[test]
fn loads_the_seven_functions_with_their_binaries() {
    let s = load();
    let got: Vec<(&str, &str)> = s
        .functions
        .iter()
        .map(|f| (f.logical_id.as_str(), f.binary.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("OrdersFunction", "orders"),
            ("MembershipsFunction", "memberships"),
            ("OutboxRelayFunction", "outbox-relay"),
            ("FulfillmentFunction", "fulfillment"),
            ("NotificationsFunction", "notifications"),
            ("IngestionFunction", "ingestion"),
            ("AnalyticsFunction", "analytics"),
        ]
    );
    for f in &s.functions {
        assert_eq!(f.runtime, "provided.al2023");
        assert_eq!(f.architecture, Architecture::Arm64);
        assert_eq!(f.memory_size, 128);
        assert_eq!(
            f.environment.get("RUST_LOG").map(String::as_str),
            Some("info")
        );
        let logging = f.logging.clone().unwrap_or_default();
        assert_eq!(logging.log_format.as_deref(), Some("JSON"));
    }
    let relay = s.function("OutboxRelayFunction");
    assert_eq!(relay.map(|f| f.timeout), Some(Duration::from_secs(30)));
    let orders = s.function("OrdersFunction");
    assert_eq!(orders.map(|f| f.timeout), Some(Duration::from_secs(10)));
}

#[test]
fn environment_resolves_to_local_names() {
    let s = load();
    let Some(orders) = s.function("OrdersFunction") else {
        panic!("no OrdersFunction")
    };
    let env: BTreeMap<&str, &str> = orders
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        BTreeMap::from([
            ("RUST_LOG", "info"),
            ("ORDERS_TABLE", "OrdersTable"),
            ("MEMBER_VIEW_TABLE", "MemberViewTable"),
            ("IDEMPOTENCY_TABLE", "IdempotencyTable"),
            (
                "DEAD_LETTER_QUEUE_URL",
                "http://127.0.0.1:45999/123456789012/OrdersDLQ"
            ),
        ])
    );
    let relay = s.function("OutboxRelayFunction").map(|f| &f.environment);
    assert_eq!(
        relay
            .and_then(|e| e.get("EVENT_BUS_NAME"))
            .map(String::as_str),
        Some("eventmart-dev")
    );
    let notifications = s.function("NotificationsFunction").map(|f| &f.environment);
    assert_eq!(
        notifications
            .and_then(|e| e.get("SENDER_EMAIL"))
            .map(String::as_str),
        Some("no-reply@example.com")
    );
}

#[test]
fn async_config_of_consumers() {
    let s = load();
    for (function, queue) in [
        ("OrdersFunction", Some("OrdersDLQ")),
        ("FulfillmentFunction", Some("FulfillmentDLQ")),
        ("NotificationsFunction", Some("NotificationsDLQ")),
        ("IngestionFunction", Some("IngestionDLQ")),
        ("MembershipsFunction", None),
        ("AnalyticsFunction", None),
    ] {
        let Some(f) = s.function(function) else {
            panic!("no {function}")
        };
        assert_eq!(f.async_config.maximum_retry_attempts, 2, "{function}");
        assert_eq!(f.async_config.maximum_event_age, Duration::from_secs(21600));
        assert_eq!(
            f.async_config.on_failure_queue.as_deref(),
            queue,
            "{function}"
        );
    }
}

#[test]
fn eleven_http_routes() {
    let s = load();
    let routes: Vec<(&str, &str, &str)> = s
        .routes
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.function.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("POST", "/orders", "OrdersFunction"),
            ("GET", "/orders/{orderId}", "OrdersFunction"),
            ("POST", "/orders/{orderId}/cancel", "OrdersFunction"),
            ("POST", "/memberships", "MembershipsFunction"),
            ("GET", "/memberships/{membershipId}", "MembershipsFunction"),
            (
                "POST",
                "/memberships/{membershipId}/cancel",
                "MembershipsFunction"
            ),
            (
                "POST",
                "/fulfillments/{orderId}/ship",
                "FulfillmentFunction"
            ),
            ("GET", "/fulfillments/{orderId}", "FulfillmentFunction"),
            ("GET", "/analytics/summary", "AnalyticsFunction"),
            ("GET", "/analytics/daily", "AnalyticsFunction"),
            ("GET", "/dashboard", "AnalyticsFunction"),
        ]
    );
    assert!(s.routes.iter().all(|r| r.api_id == "HttpApi"));
    assert_eq!(
        ids(s.http_apis.iter().map(|a| a.logical_id.as_str())),
        ["HttpApi"]
    );
}

#[test]
fn rules_carry_the_template_patterns_retry_policies_and_dlqs() {
    let s = load();
    let got: Vec<(&str, &str, &str, Option<&str>)> = s
        .rules
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.bus.as_str(),
                match &r.target {
                    RuleTarget::Function(id) | RuleTarget::DeliveryStream(id) => id.as_str(),
                },
                r.dead_letter_queue.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "OrdersFunctionOrderShipped",
                "eventmart-dev",
                "OrdersFunction",
                Some("OrdersDeliveryDLQ")
            ),
            (
                "OrdersFunctionMemberships",
                "eventmart-dev",
                "OrdersFunction",
                Some("OrdersDeliveryDLQ")
            ),
            (
                "FulfillmentFunctionOrders",
                "eventmart-dev",
                "FulfillmentFunction",
                Some("FulfillmentDeliveryDLQ")
            ),
            (
                "NotificationsFunctionCustomers",
                "eventmart-dev",
                "NotificationsFunction",
                Some("NotificationsDeliveryDLQ")
            ),
            (
                "IngestionFunctionEverything",
                "eventmart-dev",
                "IngestionFunction",
                Some("IngestionDeliveryDLQ")
            ),
            (
                "LakeOrderPlacedRule",
                "eventmart-dev",
                "LakeDeliveryStream",
                Some("LakeDeliveryDLQ")
            ),
            (
                "LakeOrderCanceledRule",
                "eventmart-dev",
                "LakeDeliveryStream",
                Some("LakeDeliveryDLQ")
            ),
            (
                "LakeOrderShippedRule",
                "eventmart-dev",
                "LakeDeliveryStream",
                Some("LakeDeliveryDLQ")
            ),
            (
                "LakeFulfillmentRule",
                "eventmart-dev",
                "LakeDeliveryStream",
                Some("LakeDeliveryDLQ")
            ),
            (
                "LakeFulfillmentCancelRejectedRule",
                "eventmart-dev",
                "LakeDeliveryStream",
                Some("LakeDeliveryDLQ")
            ),
            (
                "LakeMembershipSignedUpRule",
                "eventmart-dev",
                "LakeDeliveryStream",
                Some("LakeDeliveryDLQ")
            ),
            (
                "LakeMembershipCanceledRule",
                "eventmart-dev",
                "LakeDeliveryStream",
                Some("LakeDeliveryDLQ")
            ),
        ]
    );
    let pattern = |name: &str| {
        s.rules
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.pattern.clone())
    };
    assert_eq!(
        pattern("OrdersFunctionOrderShipped"),
        Some(json!({"source": ["eventmart.fulfillment"], "detail-type": ["OrderShipped"]}))
    );
    assert_eq!(
        pattern("FulfillmentFunctionOrders"),
        Some(
            json!({"source": ["eventmart.orders"], "detail-type": ["OrderPlaced", "OrderCanceled"]})
        )
    );
    assert_eq!(
        pattern("NotificationsFunctionCustomers"),
        Some(json!({"$or": [
            {"source": ["eventmart.orders"], "detail-type": ["OrderPlaced", "OrderCanceled"]},
            {"source": ["eventmart.memberships"], "detail-type": ["MembershipSignedUp", "MembershipCanceled"]},
            {"source": ["eventmart.fulfillment"], "detail-type": ["OrderShipped", "FulfillmentCanceled", "FulfillmentCancelRejected"]},
        ]}))
    );
    assert_eq!(
        pattern("IngestionFunctionEverything"),
        Some(json!({"source": [{"prefix": "eventmart."}]}))
    );
    for r in &s.rules {
        assert!(r.enabled);
        assert_eq!(r.retry_policy.maximum_retry_attempts, 185);
        assert_eq!(r.retry_policy.maximum_event_age, Duration::from_secs(86400));
    }

    // The compiled patterns route as the table in docs/services.md says.
    let event = |source: &str, detail_type: &str| json!({"source": source, "detail-type": detail_type, "detail": {}});
    let targets = |e: &serde_json::Value| -> Vec<&str> {
        s.rules_on("eventmart-dev")
            .filter(|r| r.compiled.matches(e))
            .filter_map(|r| r.function())
            .collect()
    };
    assert_eq!(
        targets(&event("eventmart.orders", "OrderPlaced")),
        [
            "FulfillmentFunction",
            "NotificationsFunction",
            "IngestionFunction"
        ]
    );
    assert_eq!(
        targets(&event("eventmart.fulfillment", "OrderShipped")),
        [
            "OrdersFunction",
            "NotificationsFunction",
            "IngestionFunction"
        ]
    );
    assert_eq!(
        targets(&event("eventmart.fulfillment", "FulfillmentStarted")),
        ["IngestionFunction"]
    );
    assert!(targets(&event("other", "OrderPlaced")).is_empty());
}

#[test]
fn three_outbox_stream_mappings() {
    let s = load();
    let tables: Vec<&str> = s.stream_mappings.iter().map(|m| m.table.as_str()).collect();
    assert_eq!(
        tables,
        ["OrdersTable", "MembershipsTable", "FulfillmentTable"]
    );
    let outbox_insert =
        json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "outbox"}}}});
    let state_insert =
        json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "order"}}}});
    let outbox_remove =
        json!({"eventName": "REMOVE", "dynamodb": {"NewImage": {"kind": {"S": "outbox"}}}});
    for m in &s.stream_mappings {
        assert_eq!(m.function, "OutboxRelayFunction");
        assert_eq!(m.batch_size, 100);
        assert_eq!(m.maximum_batching_window, Duration::from_secs(1));
        assert_eq!(m.starting_position, StartingPosition::TrimHorizon);
        assert!(m.bisect_batch_on_function_error);
        assert_eq!(m.maximum_retry_attempts, Some(10));
        assert_eq!(m.maximum_record_age, Some(Duration::from_secs(86400)));
        assert!(m.report_batch_item_failures);
        assert!(m.enabled);
        assert_eq!(m.on_failure_queue.as_deref(), Some("OutboxRelayDLQ"));
        assert_eq!(m.filters.len(), 1);
        let f = &m.filters[0].compiled;
        assert!(f.matches(&outbox_insert));
        assert!(!f.matches(&state_insert));
        assert!(!f.matches(&outbox_remove));
        let table = s.table(&m.table).and_then(|t| t.stream_arn.clone());
        assert_eq!(Some(m.stream_arn.clone()), table);
    }
}

#[test]
fn eight_tables_ten_queues_one_bus_one_archive() {
    let s = load();
    assert_eq!(
        ids(s.tables.iter().map(|t| t.logical_id.as_str())),
        [
            "IdempotencyTable",
            "OrdersTable",
            "MemberViewTable",
            "MembershipsTable",
            "FulfillmentTable",
            "NotificationsTable",
            "AnalyticsEventsTable",
            "AnalyticsDailyTable",
        ]
    );
    let Some(orders) = s.table("OrdersTable") else {
        panic!("no OrdersTable")
    };
    assert_eq!(orders.name, "OrdersTable");
    assert_eq!(
        orders.arn,
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/OrdersTable")
    );
    assert_eq!(orders.stream_view_type, Some(StreamViewType::NewImage));
    assert_eq!(orders.ttl_attribute.as_deref(), Some("expiresAt"));
    assert_eq!(orders.billing_mode, BillingMode::PayPerRequest);
    let daily = s.table("AnalyticsDailyTable");
    let keys: Vec<(&str, KeyType)> = daily
        .map(|t| {
            t.key_schema
                .iter()
                .map(|k| (k.attribute_name.as_str(), k.key_type))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(keys, [("series", KeyType::Hash), ("day", KeyType::Range)]);
    assert_eq!(daily.and_then(|t| t.stream_arn.clone()), None);
    assert_eq!(
        s.table("IdempotencyTable")
            .and_then(|t| t.ttl_attribute.clone())
            .as_deref(),
        Some("expiration")
    );

    assert_eq!(s.queues.len(), 10);
    let Some(dlq) = s.queue("OrdersDLQ") else {
        panic!("no OrdersDLQ")
    };
    assert_eq!(dlq.url, format!("{MOTO}/{ACCOUNT}/OrdersDLQ"));
    assert_eq!(
        dlq.arn,
        format!("arn:aws:sqs:us-east-1:{ACCOUNT}:OrdersDLQ")
    );
    assert_eq!(
        dlq.attributes
            .get("MessageRetentionPeriod")
            .map(String::as_str),
        Some("1209600")
    );

    assert_eq!(s.buses.len(), 1);
    assert_eq!(s.buses[0].name, "eventmart-dev");
    assert_eq!(s.bus_names(), ["eventmart-dev"]);
    assert_eq!(s.archives.len(), 1);
    let archive = &s.archives[0];
    assert_eq!(
        (archive.name.as_str(), archive.bus.as_str()),
        ("eventmart-dev-all", "eventmart-dev")
    );
    assert_eq!(archive.retention_days, Some(30));
    assert_eq!(
        archive.pattern,
        Some(json!({"source": [{"prefix": "eventmart."}]}))
    );

    // An alarm per queue, the queue policy, the relay's role, the bus's resource policy,
    // the API's access-log group, and the lake's bucket policy, roles, delivery log group
    // and stream and Athena workgroup are accepted and ignored.
    assert_eq!(s.ignored.len(), 20);
    let ignored = |t: &str| s.ignored.iter().filter(|r| r.resource_type == t).count();
    assert_eq!(ignored("AWS::Events::EventBusPolicy"), 1);
    assert_eq!(ignored("AWS::Logs::LogGroup"), 2);
    assert_eq!(ignored("AWS::IAM::Role"), 3);
    assert_eq!(ignored("AWS::Athena::WorkGroup"), 1);

    // Every route needs a token of the stack's pool, but the dashboard's page shell.
    let api = &s.http_apis[0];
    assert_eq!(api.default_authorizer.as_deref(), Some("CognitoJwt"));
    let jwt = &api.authorizers["CognitoJwt"];
    assert_eq!(jwt.issuer, s.user_pools[0].issuer);
    assert_eq!(jwt.audiences, [s.user_pool_clients[0].id.clone()]);
    for r in &s.routes {
        let public = r.path == "/dashboard";
        assert_eq!(
            r.auth == RouteAuth::Public,
            public,
            "{} {}: {:?}",
            r.method,
            r.path,
            r.auth
        );
    }
    assert_eq!(
        s.outputs.get("ApiUrl").map(String::as_str),
        Some("https://local.execute-api.us-east-1.amazonaws.com/")
    );
}

#[test]
fn stage_override_renames_the_bus_everywhere() {
    let naming = LocalNaming::new(MOTO);
    let overrides = BTreeMap::from([("Stage".to_owned(), "test-1".to_owned())]);
    let s = match Stack::load(&template_path(), &naming, &overrides) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(s.buses[0].name, "eventmart-test-1");
    assert!(s.rules.iter().all(|r| r.bus == "eventmart-test-1"));
    assert_eq!(s.archives[0].bus, "eventmart-test-1");
    let relay = s
        .function("OutboxRelayFunction")
        .map(|f| f.environment.clone());
    assert_eq!(
        relay
            .and_then(|e| e.get("EVENT_BUS_NAME").cloned())
            .as_deref(),
        Some("eventmart-test-1")
    );
}

#[test]
fn the_lake_bucket_table_stream_and_queries() {
    let s = load();
    assert_eq!(s.buckets.len(), 1);
    let bucket = &s.buckets[0];
    assert_eq!(bucket.logical_id, "LakeBucket");
    assert_eq!(
        bucket.name,
        format!("eventmart-dev-lake-{ACCOUNT}-us-east-1")
    );

    let Some(table) = s.glue_table("LakeEventsTable") else {
        panic!("no LakeEventsTable")
    };
    assert_eq!(
        (table.schema.database.as_str(), table.schema.table.as_str()),
        ("eventmart_dev", "events")
    );
    assert_eq!(table.location, format!("s3://{}/events/", bucket.name));
    let names: Vec<&str> = table
        .schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "event_id",
            "source",
            "occurred_at",
            "correlation_id",
            "event_version",
            "order_id",
            "membership_id",
            "customer_id",
            "plan",
            "reason",
            "items",
            "subtotal",
            "discount",
            "total"
        ]
    );
    let keys: Vec<&str> = table
        .schema
        .partition_keys
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(keys, ["type", "day"]);

    let Some(d) = s.delivery_stream("LakeDeliveryStream") else {
        panic!("no LakeDeliveryStream")
    };
    assert_eq!(d.name, "eventmart-dev-lake");
    assert_eq!(
        d.arn,
        format!("arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/eventmart-dev-lake")
    );
    assert_eq!(d.bucket, "LakeBucket");
    assert_eq!(
        d.prefix,
        "events/type=!{partitionKeyFromQuery:type}/day=!{partitionKeyFromQuery:day}/"
    );
    assert_eq!(
        d.error_prefix,
        "errors/!{firehose:error-output-type}/day=!{timestamp:yyyy-MM-dd}/"
    );
    assert_eq!(d.file_extension, ".parquet");
    assert_eq!(
        (d.buffer_interval, d.buffer_size_mb),
        (Duration::from_secs(60), 64)
    );
    assert_eq!(
        d.partition_query.as_deref(),
        Some("{type: .type, day: .occurred_at[0:10]}")
    );
    let Some(c) = &d.conversion else {
        panic!("no Parquet conversion")
    };
    assert_eq!(c.table, "LakeEventsTable");
    assert_eq!(c.compression, "SNAPPY");
    assert_eq!(
        c.timestamp_formats,
        ["yyyy-MM-dd'T'HH:mm:ss.SSSZZ", "yyyy-MM-dd'T'HH:mm:ssZZ"]
    );

    let mut queries: Vec<(&str, &str)> = s
        .named_queries
        .iter()
        .map(|q| (q.name.as_str(), q.database.as_str()))
        .collect();
    queries.sort();
    assert_eq!(
        queries,
        [
            ("cancellations", "eventmart_dev"),
            ("churn_by_plan", "eventmart_dev"),
            ("distinct_events", "eventmart_dev"),
            ("revenue_by_sku", "eventmart_dev"),
            ("revenue_summary", "eventmart_dev"),
        ]
    );
}
