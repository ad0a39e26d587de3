//! The AWS traffic of each function, passed through to moto: counted per function,
//! service and operation (what a business event costs in requests), and cut on demand (a
//! service outage).
//!
//! Each function gets a listener of its own, so a request's caller is known without
//! trusting anything the request says; the service and operation come from the request's
//! SigV4 credential scope and its `X-Amz-Target` (or, for REST services, method and path).

use crate::client;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// Requests seen, by (caller, service, operation).
pub type Counts = BTreeMap<(String, String, String), u64>;

#[derive(Default)]
struct Shared {
    counts: Mutex<Counts>,
    /// Services whose requests are answered 503 ServiceUnavailable, as during an outage.
    down: Mutex<BTreeSet<String>>,
    /// Requests refused because their service was down, by service.
    refused: Mutex<BTreeMap<String, u64>>,
}

pub struct AwsProxy {
    shared: Arc<Shared>,
    urls: BTreeMap<String, String>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct Listener {
    caller: Arc<str>,
    upstream: Arc<str>,
    shared: Arc<Shared>,
}

impl AwsProxy {
    /// One listener per caller on `host` (loopback, or where containers reach this
    /// machine), each forwarding to `upstream` (moto's URL).
    pub async fn start(
        upstream: &str,
        callers: &[String],
        host: std::net::IpAddr,
    ) -> std::io::Result<AwsProxy> {
        let shared = Arc::new(Shared::default());
        let mut urls = BTreeMap::new();
        let mut servers = vec![];
        for caller in callers {
            let listener = tokio::net::TcpListener::bind((host, 0)).await?;
            urls.insert(caller.clone(), format!("http://{}", listener.local_addr()?));
            let app = axum::Router::new().fallback(forward).with_state(Listener {
                caller: caller.as_str().into(),
                upstream: upstream.trim_end_matches('/').into(),
                shared: shared.clone(),
            });
            servers.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
        }
        Ok(AwsProxy {
            shared,
            urls,
            servers,
        })
    }

    /// The endpoint URL `caller` should use for every moto-served service.
    pub fn url(&self, caller: &str) -> Option<&str> {
        self.urls.get(caller).map(String::as_str)
    }

    pub fn counts(&self) -> Counts {
        self.shared
            .counts
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Requests answered 503 because their service was down, by service.
    pub fn refused(&self) -> BTreeMap<String, u64> {
        self.shared
            .refused
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// A handle that takes services down and back, for a task of its own.
    pub fn switch(&self) -> AwsSwitch {
        AwsSwitch(self.shared.clone())
    }
}

#[derive(Clone)]
pub struct AwsSwitch(Arc<Shared>);

impl AwsSwitch {
    /// Takes `service` (a SigV4 signing name: `dynamodb` covers tables and streams) down or
    /// brings it back.
    pub fn set_down(&self, service: &str, down: bool) {
        if let Ok(mut d) = self.0.down.lock() {
            if down {
                d.insert(service.to_owned());
            } else {
                d.remove(service);
            }
        }
    }
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        for s in &self.servers {
            s.abort();
        }
    }
}

/// The signing name in `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`.
fn service(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unsigned")
        .to_owned()
}

fn operation(method: &Method, uri: &Uri, headers: &HeaderMap) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    match (method.as_str(), uri.path()) {
        ("POST", "/v2/email/outbound-emails") => "SendEmail".to_owned(),
        (m, p) => format!("{m} {p}"),
    }
}

async fn forward(
    State(l): State<Listener>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let service = service(&headers);
    let op = operation(&method, &uri, &headers);
    if let Ok(mut c) = l.shared.counts.lock() {
        *c.entry((l.caller.to_string(), service.clone(), op))
            .or_default() += 1;
    }
    let down = l
        .shared
        .down
        .lock()
        .map(|d| d.contains(&service))
        .unwrap_or(false);
    if down {
        if let Ok(mut r) = l.shared.refused.lock() {
            *r.entry(service.clone()).or_default() += 1;
        }
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/x-amz-json-1.0")],
            format!(
                r#"{{"__type":"com.amazonaws.{service}#ServiceUnavailable","message":"{service} is unavailable (an outage switched on by the local stack)"}}"#
            ),
        )
            .into_response();
    }
    let forwarded: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
            )
        })
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let pairs: Vec<(&str, &str)> = forwarded
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    match client::request(
        method.as_str(),
        &format!("{}{path}", l.upstream),
        &pairs,
        Some(&body),
    )
    .await
    {
        Ok(r) => {
            let mut out = Response::builder()
                .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY));
            for (k, v) in &r.headers {
                let k = k.to_ascii_lowercase();
                if !matches!(
                    k.as_str(),
                    "connection" | "content-length" | "transfer-encoding" | "keep-alive"
                ) {
                    out = out.header(k, v);
                }
            }
            out.body(axum::body::Body::from(r.body))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_service_and_operation_from_the_request() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
                .parse()
                .unwrap(),
        );
        h.insert("x-amz-target", "DynamoDB_20120810.PutItem".parse().unwrap());
        assert_eq!(service(&h), "dynamodb");
        let uri: Uri = "/".parse().unwrap();
        assert_eq!(operation(&Method::POST, &uri, &h), "PutItem");
        let ses: Uri = "/v2/email/outbound-emails".parse().unwrap();
        assert_eq!(
            operation(&Method::POST, &ses, &HeaderMap::new()),
            "SendEmail"
        );
        assert_eq!(service(&HeaderMap::new()), "unsigned");
    }
}
