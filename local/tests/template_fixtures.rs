//! Small templates under tests/templates/: the loader's errors and the SAM features the
//! project's template does not exercise.

use eventmart_local::template::{Architecture, LocalNaming, Stack, TemplateError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const MOTO: &str = "http://127.0.0.1:45998";

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/templates")
        .join(name)
}

fn load_with(name: &str, overrides: &[(&str, &str)]) -> Result<Stack, TemplateError> {
    let overrides: BTreeMap<String, String> = overrides
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Stack::load(&path(name), &LocalNaming::new(MOTO), &overrides)
}

fn load(name: &str) -> Stack {
    match load_with(name, &[]) {
        Ok(s) => s,
        Err(e) => panic!("{name} does not load: {e}"),
    }
}

fn error(name: &str, overrides: &[(&str, &str)]) -> TemplateError {
    match load_with(name, overrides) {
        Ok(_) => panic!("{name} loaded, expected an error"),
        Err(e) => e,
    }
}

#[test]
fn invalid_rule_pattern_names_resource_and_property() {
    let e = error("invalid_pattern.yaml", &[]);
    assert_eq!(e.file, "invalid_pattern.yaml");
    assert_eq!(e.resource, "Consumer");
    assert_eq!(e.property, "Properties.Events.Bad.Properties.Pattern");
    assert!(
        e.message
            .starts_with("Event pattern is not valid. Reason: "),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("invalid_pattern.yaml: Consumer.Properties.Events.Bad.Properties.Pattern: Event pattern is not valid"),
        "{e}"
    );
}

#[test]
fn invalid_stream_filter_names_the_filter() {
    let e = error("invalid_filter.yaml", &[]);
    assert_eq!(e.resource, "Relay");
    assert_eq!(
        e.property,
        "Properties.Events.Stream.Properties.FilterCriteria.Filters[0].Pattern"
    );
    assert!(e.message.contains("Event pattern is not valid"), "{e}");
}

#[test]
fn unsupported_property_is_named() {
    let e = error("unsupported_property.yaml", &[]);
    assert_eq!(
        e.to_string(),
        "unsupported_property.yaml: OrdersTable.Properties.GlobalSecondaryIndexes: not supported by the local stack"
    );
}

#[test]
fn unknown_resource_type_is_named() {
    let e = error("unknown_resource_type.yaml", &[]);
    assert_eq!(
        (e.resource.as_str(), e.property.as_str()),
        ("Topic", "Type")
    );
    assert_eq!(
        e.message,
        "resource type AWS::SNS::Topic is not supported by the local stack"
    );
}

#[test]
fn unsupported_event_type_is_named() {
    let e = error("unsupported_event.yaml", &[]);
    assert_eq!(e.resource, "Worker");
    assert_eq!(e.property, "Properties.Events.Jobs.Type");
    assert_eq!(
        e.message,
        "event type SQS is not supported by the local stack"
    );
}

#[test]
fn missing_binary_is_an_error() {
    let e = error("missing_binary.yaml", &[]);
    assert_eq!(e.resource, "Worker");
    assert_eq!(e.property, "Metadata.BuildProperties.Binary");
}

#[test]
fn sub_forms_resolve() {
    let s = load("sub_forms.yaml");
    let Some(f) = s.function("Worker") else {
        panic!("no Worker")
    };
    let env = |k: &str| {
        f.environment
            .get(k)
            .map(String::as_str)
            .unwrap_or("<unset>")
    };
    let account = "123456789012";
    assert_eq!(env("PLAIN"), "dev");
    assert_eq!(env("RESOURCE"), "shop-dev-table");
    assert_eq!(
        env("ATTRIBUTE"),
        format!(
            "arn:aws:sqs:us-east-1:{account}:dlq-dev|arn:aws:events:us-east-1:{account}:event-bus/shop-dev|{MOTO}/{account}/dlq-dev|shop-dev"
        )
    );
    assert_eq!(
        env("PSEUDO"),
        format!("aws:us-east-1:{account}:local:amazonaws.com")
    );
    assert_eq!(env("VARS"), "dlq-dev+literal+dev");
    assert_eq!(
        env("LONG"),
        format!("arn:aws:dynamodb:us-east-1:{account}:table/shop-dev-table")
    );
    assert_eq!(env("ESCAPED"), "${Stage} is dev");
    assert_eq!(env("NO_VARIABLES"), "just text");
    assert_eq!(s.buses[0].name, "shop-dev");
    assert_eq!(s.tables[0].name, "shop-dev-table");
    assert_eq!(s.queues[0].name, "dlq-dev");
}

#[test]
fn globals_merge_into_functions_and_apis() {
    let s = load("globals.yaml");
    let (Some(d), Some(o)) = (s.function("Defaults"), s.function("Overrides")) else {
        panic!("functions missing")
    };
    assert_eq!(d.runtime, "provided.al2023");
    assert_eq!(d.architecture, Architecture::Arm64);
    assert_eq!((d.memory_size, o.memory_size), (256, 256));
    assert_eq!(d.timeout, Duration::from_secs(10));
    assert_eq!(o.timeout, Duration::from_secs(30));
    let env = |f: &eventmart_local::template::Function| -> Vec<(String, String)> {
        f.environment.clone().into_iter().collect()
    };
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        env(d),
        [pair("RUST_LOG", "info"), pair("SHARED", "from-globals")]
    );
    assert_eq!(
        env(o),
        [
            pair("OWN", "mine"),
            pair("RUST_LOG", "info"),
            pair("SHARED", "from-function")
        ]
    );
    // LoggingConfig is a map: merged key by key.
    let logging = o.logging.clone().unwrap_or_default();
    assert_eq!(logging.log_format.as_deref(), Some("JSON"));
    assert_eq!(logging.application_log_level.as_deref(), Some("DEBUG"));

    let routes: Vec<(&str, &str, &str)> = s
        .routes
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.api_id.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("GET", "/", "Api"),
            ("POST", "/things/{id}", "ServerlessHttpApi")
        ]
    );
    assert_eq!(s.http_apis[0].description.as_deref(), Some("from globals"));
    assert_eq!(s.http_apis[1].logical_id, "ServerlessHttpApi");
}

#[test]
fn parameter_override_violating_allowed_pattern_is_an_error() {
    let e = error("allowed_pattern.yaml", &[("Stage", "Prod_1")]);
    assert_eq!(
        (e.resource.as_str(), e.property.as_str()),
        ("Parameters", "Stage")
    );
    assert!(
        e.message
            .contains("\"Prod_1\" does not match AllowedPattern ^[a-z][a-z0-9-]{0,15}$"),
        "{e}"
    );
    assert!(e.message.contains("lower-case letters"), "{e}");

    let e = error("allowed_pattern.yaml", &[("Retries", "3")]);
    assert_eq!(e.property, "Retries");

    let ok = match load_with(
        "allowed_pattern.yaml",
        &[("Stage", "qa-2"), ("Retries", "0")],
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(ok.queues[0].name, "q-qa-2-0");
    assert_eq!(load("allowed_pattern.yaml").queues[0].name, "q-dev-2");
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    let e = error("no_such_file.yaml", &[]);
    assert_eq!(e.file, "no_such_file.yaml");
    assert!(e.message.starts_with("cannot read"), "{e}");
}
