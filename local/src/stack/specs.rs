//! The template turned into each service's specs: what the stack starts, decided before
//! anything starts (pure functions of the template model).

use crate::apigateway::jwt::JwtAuthorizer;
use crate::apigateway::{Authorizer, RouteSpec};
use crate::aws::REGION;
use crate::event_source_mapping::StreamSpec;
use crate::eventbridge::{
    ArchiveSpec, AsyncInvoke, BusSpec, Destination, RetryPolicy, RuleSpec, TargetSpec,
};
use crate::firehose::{
    self,
    expr::{PartitionQuery, Prefix},
};
use crate::lambda::FunctionSpec;
use crate::template::{RouteAuth, RuleTarget, Stack};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Each function with its binary and its environment: the template's variables (a value
/// that is Cognito's regional endpoint pointing at the local Cognito, `cognito_url`, as
/// the front ends it is handed to must reach it), then the region, credentials and
/// endpoints (the function's own AWS proxy, `aws_url(logical id)`, and the bus) unless the
/// template sets them.
pub fn functions(
    model: &Stack,
    binaries: &BTreeMap<String, PathBuf>,
    bus_url: &str,
    aws_url: &dyn Fn(&str) -> String,
    cognito_url: &str,
) -> Vec<FunctionSpec> {
    let cognito_aws = format!("https://cognito-idp.{REGION}.amazonaws.com");
    model
        .functions
        .iter()
        .map(|f| {
            let mut env = f.environment.clone();
            for v in env.values_mut() {
                if v.trim_end_matches('/') == cognito_aws {
                    *v = format!("{}/", cognito_url.trim_end_matches('/'));
                }
            }
            for (k, v) in [
                ("AWS_REGION", REGION.to_owned()),
                ("AWS_DEFAULT_REGION", REGION.to_owned()),
                ("AWS_ACCESS_KEY_ID", "local".to_owned()),
                ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
                ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
                ("AWS_ENDPOINT_URL_DYNAMODB", aws_url(&f.logical_id)),
                ("AWS_ENDPOINT_URL_SQS", aws_url(&f.logical_id)),
                ("AWS_ENDPOINT_URL_SESV2", aws_url(&f.logical_id)),
                ("AWS_ENDPOINT_URL_EVENTBRIDGE", bus_url.to_owned()),
            ] {
                env.entry(k.to_owned()).or_insert(v);
            }
            FunctionSpec {
                name: f.logical_id.clone(),
                binary: binaries[&f.binary].clone(),
                env,
                timeout: f.timeout,
                memory_mb: f.memory_size,
            }
        })
        .collect()
}

/// The URL of the template's queue `id`, if there is one.
fn queue_url(model: &Stack, id: &Option<String>) -> Option<String> {
    id.as_ref()
        .and_then(|id| model.queues.iter().find(|q| &q.logical_id == id))
        .map(|q| q.url.clone())
}

/// The buses with their archives.
pub fn buses(model: &Stack) -> Vec<BusSpec> {
    // The template's buses, and `default` when an archive is on it (the bus itself
    // exists in every account and is not in the template).
    let names = model
        .buses
        .iter()
        .map(|b| b.name.as_str())
        .chain(model.archives.iter().map(|a| a.bus.as_str()))
        .collect::<std::collections::BTreeSet<_>>();
    names
        .into_iter()
        .map(|name| BusSpec {
            name: name.to_owned(),
            archives: model
                .archives
                .iter()
                .filter(|a| a.bus == name)
                .map(|a| ArchiveSpec {
                    name: a.name.clone(),
                    description: a.description.clone(),
                    pattern: a.compiled.clone(),
                    pattern_json: a.pattern.as_ref().map(serde_json::Value::to_string),
                    retention_days: a.retention_days,
                })
                .collect(),
        })
        .collect()
}

/// Each rule with its target's retry policy and dead-letter queue and its function's
/// event invoke config (Lambda's defaults where the template has none).
pub fn rules(model: &Stack) -> Vec<RuleSpec> {
    model
        .rules
        .iter()
        .map(|r| {
            let function = r.function().and_then(|id| model.function(id));
            let async_config = function.map(|f| &f.async_config);
            RuleSpec {
                name: r.name.clone(),
                bus: r.bus.clone(),
                pattern: r.compiled.clone(),
                pattern_json: r.pattern.to_string(),
                enabled: r.enabled,
                target: TargetSpec {
                    id: r.target_id.clone(),
                    destination: match &r.target {
                        RuleTarget::Function(f) => Destination::Lambda(f.clone()),
                        RuleTarget::DeliveryStream(d) => Destination::Firehose(
                            model
                                .delivery_stream(d)
                                .map_or_else(|| d.clone(), |s| s.name.clone()),
                        ),
                    },
                    input: r.input.clone(),
                    retry: RetryPolicy {
                        max_attempts: r.retry_policy.maximum_retry_attempts,
                        max_event_age: r.retry_policy.maximum_event_age,
                    },
                    dead_letter_queue_url: queue_url(model, &r.dead_letter_queue),
                },
                async_invoke: AsyncInvoke {
                    max_retry_attempts: async_config.map_or(2, |a| a.maximum_retry_attempts),
                    max_event_age: async_config
                        .map_or(Duration::from_secs(6 * 3600), |a| a.maximum_event_age),
                    on_failure_queue_url: async_config
                        .and_then(|a| queue_url(model, &a.on_failure_queue)),
                    function_timeout: function.map_or(Duration::from_secs(3), |f| f.timeout),
                },
            }
        })
        .collect()
}

/// The enabled DynamoDB stream event source mappings.
pub fn stream_mappings(model: &Stack) -> Vec<StreamSpec> {
    model
        .stream_mappings
        .iter()
        .filter(|m| m.enabled)
        .map(|m| StreamSpec {
            table_name: model
                .tables
                .iter()
                .find(|t| t.logical_id == m.table)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| m.table.clone()),
            function: m.function.clone(),
            batch_size: m.batch_size as usize,
            batching_window: m.maximum_batching_window,
            starting_position: match m.starting_position {
                crate::template::StartingPosition::TrimHorizon => {
                    crate::event_source_mapping::StartingPosition::TrimHorizon
                }
                crate::template::StartingPosition::Latest => {
                    crate::event_source_mapping::StartingPosition::Latest
                }
            },
            filters: m.filters.iter().map(|f| f.compiled.clone()).collect(),
            bisect_on_error: m.bisect_batch_on_function_error,
            max_retry_attempts: m.maximum_retry_attempts.unwrap_or(u32::MAX),
            report_batch_item_failures: m.report_batch_item_failures,
            max_record_age: m.maximum_record_age,
            on_failure_queue_url: queue_url(model, &m.on_failure_queue),
        })
        .collect()
}

/// Each route with its timeout and its auth: a route under a JWT authorizer shares its
/// API's [`Authorizer`] (one per API and name), whose keys are fetched at
/// `jwks_url(issuer)`.
pub fn routes(model: &Stack, jwks_url: &dyn Fn(&str) -> String) -> Vec<RouteSpec> {
    let mut authorizers: BTreeMap<(String, String), Arc<Authorizer>> = BTreeMap::new();
    for api in &model.http_apis {
        for (name, a) in &api.authorizers {
            let config = JwtAuthorizer {
                issuer: a.issuer.clone(),
                audiences: a.audiences.clone(),
            };
            let authorizer = Authorizer::new(name, config, &a.header, jwks_url(&a.issuer));
            authorizers.insert((api.logical_id.clone(), name.clone()), Arc::new(authorizer));
        }
    }
    model
        .routes
        .iter()
        .map(|r| {
            let mut route = RouteSpec::new(&r.method, &r.path, &r.function);
            if let Some(t) = r.timeout {
                route = route.with_timeout(t);
            }
            if let RouteAuth::Jwt { authorizer, scopes } = &r.auth
                && let Some(a) = authorizers.get(&(r.api_id.clone(), authorizer.clone()))
            {
                route = route.with_authorizer(a.clone(), scopes.clone());
            }
            route
        })
        .collect()
}

/// The template's delivery streams, their buffer intervals scaled by `factor` (the bus's
/// delay scale), each with the Glue table it converts against.
pub fn delivery_streams(model: &Stack, factor: f64) -> Result<Vec<firehose::StreamSpec>, String> {
    model
        .delivery_streams
        .iter()
        .map(|d| {
            let at = |what: &str, e: String| format!("{}.{what}: {e}", d.logical_id);
            let bucket = model
                .buckets
                .iter()
                .find(|b| b.logical_id == d.bucket)
                .map(|b| b.name.clone())
                .unwrap_or_default();
            let conversion = match &d.conversion {
                None => None,
                Some(c) => Some(firehose::Conversion {
                    schema: model
                        .glue_table(&c.table)
                        .map(|t| t.schema.clone())
                        .ok_or_else(|| {
                            at("SchemaConfiguration", format!("no table {}", c.table))
                        })?,
                    timestamp_formats: c.timestamp_formats.clone(),
                }),
            };
            Ok(firehose::StreamSpec {
                name: d.name.clone(),
                bucket,
                prefix: Prefix::parse(&d.prefix).map_err(|e| at("Prefix", e))?,
                error_prefix: Prefix::parse(&d.error_prefix)
                    .map_err(|e| at("ErrorOutputPrefix", e))?,
                interval: d.buffer_interval.mul_f64(factor.clamp(0.0, 1.0)),
                size_bytes: d.buffer_size_mb as usize * 1024 * 1024,
                partitioning: d
                    .partition_query
                    .as_deref()
                    .map(PartitionQuery::parse)
                    .transpose()
                    .map_err(|e| at("MetadataExtractionQuery", e))?,
                conversion,
                file_extension: d.file_extension.clone(),
            })
        })
        .collect()
}
