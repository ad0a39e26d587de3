//! The HTTP API: API Gateway HTTP API routes in front of functions, payload format 2.0.
//!
//! Route selection follows API Gateway: the most specific route wins (literal segments
//! over `{param}`, `{param}` over a greedy `{proxy+}`, a method over `ANY`, any route
//! over `$default`); no route is `404 {"message":"Not Found"}`. A function error, or a
//! response API Gateway could not map, is `500 {"message":"Internal Server Error"}`.

mod authorizer;
pub mod jwt;
#[cfg(test)]
mod tests;

pub use authorizer::{Authorizer, REFETCH_AFTER, Refusal, RouteAuthorizer};

use crate::encoding::{base64_decode, base64_encode, percent_decode};
use crate::lambda::Invoker;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// API Gateway's payload limit.
const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// The API id in events (one API per gateway).
const API_ID: &str = "local";
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// One route of the template: `Method` and `Path` of an `HttpApi` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// `GET`, `POST`, ... or `ANY` (any case).
    pub method: String,
    /// As in the template: `/items/{itemId}`, `/files/{proxy+}`, or `$default`.
    pub path: String,
    /// The function's logical id.
    pub function: String,
    /// `TimeoutInMillis`: past it the client gets a 503, as from API Gateway (the
    /// invocation itself runs on to its own end).
    pub timeout: Duration,
    /// The route's JWT authorizer; `None`: public.
    pub auth: Option<RouteAuthorizer>,
}

/// API Gateway's integration timeout when a route sets none.
pub const DEFAULT_ROUTE_TIMEOUT: Duration = Duration::from_secs(30);

impl RouteSpec {
    pub fn new(
        method: impl Into<String>,
        path: impl Into<String>,
        function: impl Into<String>,
    ) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            function: function.into(),
            timeout: DEFAULT_ROUTE_TIMEOUT,
            auth: None,
        }
    }

    /// The route requires a valid token of `authorizer`, holding one of `scopes` if any.
    pub fn with_authorizer(mut self, authorizer: Arc<Authorizer>, scopes: Vec<String>) -> Self {
        self.auth = Some(RouteAuthorizer { authorizer, scopes });
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("route {route}: {reason}")]
    InvalidRoute { route: String, reason: String },
    #[error("route {0} is defined twice")]
    DuplicateRoute(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The running HTTP API. Dropping it stops serving; [`Gateway::shutdown`] also lets
/// requests in progress finish.
pub struct Gateway {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Serves `routes` on a free loopback port.
    pub async fn start(
        routes: Vec<RouteSpec>,
        invoker: Arc<dyn Invoker>,
    ) -> Result<Gateway, GatewayError> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), routes, invoker).await
    }

    /// Serves `routes` on `addr`.
    pub async fn bind(
        addr: SocketAddr,
        routes: Vec<RouteSpec>,
        invoker: Arc<dyn Invoker>,
    ) -> Result<Gateway, GatewayError> {
        let table = RouteTable::new(routes)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let state = Arc::new(GatewayState { table, invoker });
        let app = Router::new().fallback(handle).with_state(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
            if let Err(e) = served {
                tracing::error!(target: "eventmart_local::gateway", error = %e, "the HTTP API stopped");
            }
        });
        Ok(Gateway {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for requests in progress.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct GatewayState {
    table: RouteTable,
    invoker: Arc<dyn Invoker>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug)]
struct Route {
    /// `GET /items/{itemId}`, or `$default`.
    key: String,
    /// `None` for `ANY`.
    method: Option<String>,
    segments: Vec<Segment>,
    /// The name of a trailing `{name+}`.
    greedy: Option<String>,
    is_default: bool,
    function: String,
    timeout: Duration,
    auth: Option<RouteAuthorizer>,
}

/// A matched route and its decoded path parameters.
#[derive(Debug, PartialEq)]
struct Matched<'a> {
    pub route_key: &'a str,
    pub function: &'a str,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
    pub auth: Option<&'a RouteAuthorizer>,
}

#[derive(Debug)]
struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    fn new(specs: Vec<RouteSpec>) -> Result<Self, GatewayError> {
        let mut routes: Vec<Route> = vec![];
        for spec in specs {
            let route = compile(spec)?;
            // Parameter names do not tell routes apart: /a/{x} and /a/{y} clash.
            let shape = |r: &Route| {
                let segments: Vec<Option<String>> = r
                    .segments
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(l) => Some(l.clone()),
                        Segment::Param(_) => None,
                    })
                    .collect();
                (r.method.clone(), segments, r.greedy.is_some(), r.is_default)
            };
            if routes.iter().any(|r| shape(r) == shape(&route)) {
                return Err(GatewayError::DuplicateRoute(route.key));
            }
            routes.push(route);
        }
        Ok(Self { routes })
    }

    /// The most specific route for `method` and the raw (still encoded) `path`.
    fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let segments: Vec<&str> = match path.strip_prefix('/') {
            Some("") => vec![],
            Some(rest) => rest.split('/').collect(),
            None => return None,
        };
        let mut best: Option<((bool, bool, usize, bool), Matched<'_>)> = None;
        for route in &self.routes {
            if route.method.as_deref().is_some_and(|m| m != method) {
                continue;
            }
            let params = if route.is_default {
                Some(vec![])
            } else {
                match_segments(route, &segments)
            };
            let Some(params) = params else { continue };
            let literals = route
                .segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            let score = (
                !route.is_default,
                route.greedy.is_none(),
                literals,
                route.method.is_some(),
            );
            // Strictly greater: on a tie the route defined first wins.
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((
                    score,
                    Matched {
                        route_key: &route.key,
                        function: &route.function,
                        timeout: route.timeout,
                        auth: route.auth.as_ref(),
                        params,
                    },
                ));
            }
        }
        best.map(|(_, m)| m)
    }
}

fn compile(spec: RouteSpec) -> Result<Route, GatewayError> {
    let method = spec.method.trim().to_ascii_uppercase();
    let shown = format!("{} {}", spec.method, spec.path);
    let invalid = |reason: &str| GatewayError::InvalidRoute {
        route: shown.clone(),
        reason: reason.to_owned(),
    };
    if !METHODS.contains(&method.as_str()) {
        return Err(invalid(
            "Method must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY",
        ));
    }
    let method_filter = (method != "ANY").then(|| method.clone());
    if spec.path == "$default" {
        return Ok(Route {
            key: "$default".into(),
            method: method_filter,
            segments: vec![],
            greedy: None,
            is_default: true,
            function: spec.function,
            timeout: spec.timeout,
            auth: spec.auth,
        });
    }
    let Some(rest) = spec.path.strip_prefix('/') else {
        return Err(invalid("Path must start with / (or be $default)"));
    };
    let parts: Vec<&str> = if rest.is_empty() {
        vec![]
    } else {
        rest.split('/').collect()
    };
    let mut segments = vec![];
    let mut greedy = None;
    for (i, part) in parts.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if let Some(name) = name.strip_suffix('+') {
                if i + 1 != parts.len() {
                    return Err(invalid(
                        "a greedy {name+} parameter must be the last segment",
                    ));
                }
                if name.is_empty() {
                    return Err(invalid("a path parameter needs a name"));
                }
                greedy = Some(name.to_owned());
            } else if name.is_empty() || name.contains(['{', '}']) {
                return Err(invalid("a path parameter needs a name"));
            } else {
                segments.push(Segment::Param(name.to_owned()));
            }
        } else if part.is_empty() {
            return Err(invalid("empty path segment"));
        } else if part.contains(['{', '}']) {
            return Err(invalid(
                "a path parameter must be a whole segment, like {name}",
            ));
        } else {
            segments.push(Segment::Literal((*part).to_owned()));
        }
    }
    Ok(Route {
        key: format!("{method} {}", spec.path),
        method: method_filter,
        segments,
        greedy,
        is_default: false,
        function: spec.function,
        timeout: spec.timeout,
        auth: spec.auth,
    })
}

fn match_segments(route: &Route, path: &[&str]) -> Option<Vec<(String, String)>> {
    let fixed = route.segments.len();
    match &route.greedy {
        None if path.len() != fixed => return None,
        Some(_) if path.len() <= fixed => return None,
        _ => {}
    }
    let mut params = vec![];
    for (segment, raw) in route.segments.iter().zip(path) {
        let value = percent_decode(raw, false);
        match segment {
            Segment::Literal(l) if *l == value => {}
            Segment::Literal(_) => return None,
            Segment::Param(_) if value.is_empty() => return None,
            Segment::Param(name) => params.push((name.clone(), value)),
        }
    }
    if let Some(name) = &route.greedy {
        let rest: Vec<String> = path[fixed..]
            .iter()
            .map(|s| percent_decode(s, false))
            .collect();
        params.push((name.clone(), rest.join("/")));
    }
    Some(params)
}

/// What an HTTP request contributes to the event.
struct EventInput<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub version: Version,
    pub body: &'a [u8],
    pub source_ip: String,
    pub route_key: &'a str,
    pub params: &'a [(String, String)],
    pub request_id: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The API Gateway HTTP API payload 2.0 event.
fn build_event(input: &EventInput<'_>) -> Value {
    let (headers, cookies) = headers_and_cookies(input.headers);
    let header = |name: &str| headers.get(name).and_then(Value::as_str).unwrap_or("");
    let user_agent = header("user-agent").to_owned();
    let domain = header("host").to_owned();
    let domain_prefix = domain
        .split(':')
        .next()
        .unwrap_or("")
        .split('.')
        .next()
        .unwrap_or("")
        .to_owned();
    let query = query_parameters(input.raw_query);
    let protocol = match input.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": input.route_key,
        "rawPath": input.raw_path,
        "rawQueryString": input.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": crate::aws::ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "http": {
                "method": input.method,
                "path": input.raw_path,
                "protocol": protocol,
                "sourceIp": input.source_ip,
                "userAgent": user_agent,
            },
            "requestId": input.request_id,
            "routeKey": input.route_key,
            "stage": "$default",
            "time": input.now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": input.now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    let Value::Object(obj) = &mut event else {
        return event;
    };
    if !cookies.is_empty() {
        obj.insert("cookies".into(), Value::Array(cookies));
    }
    if !query.is_empty() {
        obj.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !input.params.is_empty() {
        let params: Map<String, Value> = input
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        obj.insert("pathParameters".into(), Value::Object(params));
    }
    insert_body(obj, input);
    event
}

/// The event's headers (repeated ones comma-joined) and, apart, its cookies.
fn headers_and_cookies(request: &HeaderMap) -> (Map<String, Value>, Vec<Value>) {
    let mut headers = Map::new();
    let mut cookies: Vec<Value> = vec![];
    for name in request.keys() {
        let values: Vec<String> = request
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if name.as_str() == "cookie" {
            // API Gateway moves cookies out of the headers into their own list.
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_owned())),
            );
        } else {
            headers.insert(name.as_str().to_owned(), Value::String(values.join(",")));
        }
    }
    (headers, cookies)
}

/// The decoded query parameters.
fn query_parameters(raw_query: &str) -> Map<String, Value> {
    let mut query = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k, true), percent_decode(v, true));
        // Repeated parameters are comma-joined, as API Gateway does.
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    query
}

/// The body: as text when its content type is text and it is UTF-8, else base64.
fn insert_body(obj: &mut Map<String, Value>, input: &EventInput<'_>) {
    if input.body.is_empty() {
        return;
    }
    let text = is_text(input.headers.get("content-type"))
        .then(|| std::str::from_utf8(input.body).ok())
        .flatten();
    match text {
        Some(text) => {
            obj.insert("body".into(), Value::String(text.to_owned()));
        }
        None => {
            obj.insert("body".into(), Value::String(base64_encode(input.body)));
            obj.insert("isBase64Encoded".into(), Value::Bool(true));
        }
    }
}

/// Content types API Gateway passes as text; anything else is base64-encoded.
fn is_text(content_type: Option<&HeaderValue>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let ct = String::from_utf8_lossy(ct.as_bytes()).to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
        )
}

/// The HTTP response for a function's result, or why API Gateway would reject it.
fn to_http(result: &Value) -> Result<Response, String> {
    let Some(obj) = result.as_object().filter(|o| o.contains_key("statusCode")) else {
        // The shorthand: any other JSON value is a 200 with the value as its body.
        let body = serde_json::to_string(result).map_err(|e| e.to_string())?;
        let mut response = Response::new(Body::from(body));
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return Ok(response);
    };
    let status = obj
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("statusCode is not a valid HTTP status")?;
    let mut headers = HeaderMap::new();
    let header = |name: &str, value: &Value| -> Result<(HeaderName, HeaderValue), String> {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(format!("header {name} is not a string")),
        };
        let name = HeaderName::try_from(name).map_err(|e| format!("header {name}: {e}"))?;
        let value = HeaderValue::try_from(value).map_err(|e| format!("header {name}: {e}"))?;
        Ok((name, value))
    };
    if let Some(map) = obj.get("headers").filter(|v| !v.is_null()) {
        let map = map.as_object().ok_or("headers is not an object")?;
        for (name, value) in map {
            let (name, value) = header(name, value)?;
            headers.insert(name, value);
        }
    }
    if let Some(map) = obj.get("multiValueHeaders").filter(|v| !v.is_null()) {
        let map = map
            .as_object()
            .ok_or("multiValueHeaders is not an object")?;
        for (name, values) in map {
            let values = values
                .as_array()
                .ok_or_else(|| format!("multiValueHeaders.{name} is not an array"))?;
            for value in values {
                let (name, value) = header(name, value)?;
                headers.append(name, value);
            }
        }
    }
    if let Some(cookies) = obj.get("cookies").filter(|v| !v.is_null()) {
        let cookies = cookies.as_array().ok_or("cookies is not an array")?;
        for cookie in cookies {
            let (name, value) = header("set-cookie", cookie)?;
            headers.append(name, value);
        }
    }
    let base64 = obj
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match obj.get("body") {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) if base64 => base64_decode(s).ok_or("body is not valid base64")?,
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(_) => return Err("body is not a string".into()),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// API Gateway's answer to a request its JWT authorizer refused.
fn unauthorized() -> Response {
    let mut response = message(StatusCode::UNAUTHORIZED, "Unauthorized");
    response
        .headers_mut()
        .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    response
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

async fn handle(
    State(state): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = respond(&state, peer, request, &request_id).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("apigw-requestid", v);
    }
    response
}

async fn respond(
    state: &GatewayState,
    peer: SocketAddr,
    request: Request,
    request_id: &str,
) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let raw_path = parts.uri.path().to_owned();
    let Some(matched) = state.table.find(&method, &raw_path) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    // The authorizer runs before the integration: a refused request invokes nothing.
    let authorizer = match matched.auth {
        None => None,
        Some(auth) => match auth
            .authorizer
            .authorize(&parts.headers, &auth.scopes)
            .await
        {
            Ok(context) => Some(context),
            Err(refusal) => {
                tracing::info!(target: "eventmart_local::gateway", authorizer = auth.authorizer.name(), route = matched.route_key, %refusal, "unauthorized");
                return unauthorized();
            }
        },
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let mut event = build_event(&EventInput {
        method: &method,
        raw_path: &raw_path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        version: parts.version,
        body: &body,
        source_ip: peer.ip().to_string(),
        route_key: matched.route_key,
        params: &matched.params,
        request_id,
        now: chrono::Utc::now(),
    });
    if let (Some(context), Some(request_context)) = (authorizer, event.get_mut("requestContext")) {
        request_context["authorizer"] = context;
    }
    let function = matched.function;
    let Ok(outcome) =
        tokio::time::timeout(matched.timeout, state.invoker.invoke(function, event)).await
    else {
        tracing::warn!(target: "eventmart_local::gateway", %function, timeout = ?matched.timeout, "the integration timed out");
        return message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    };
    match outcome {
        Ok(result) => to_http(&result).unwrap_or_else(|reason| {
            tracing::warn!(target: "eventmart_local::gateway", %function, %reason, "malformed Lambda response");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }),
        Err(error) => {
            tracing::warn!(target: "eventmart_local::gateway", %function, %error, "the function failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}
