//! HTTP edges of the producers and APIs: problem responses (RFC 9457), request bodies
//! validated field by field, routing, and the `Idempotency-Key` header.

use crate::events::CustomerId;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest request body accepted: an order of 100 lines fits many times over.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The header that makes a POST safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Problem kind of a 409 whose request is still running elsewhere: retrying later with
/// the same Idempotency-Key gets its answer.
pub const IN_PROGRESS: &str = "in-progress";

/// The header a caller uses to tie its request to the events it causes.
pub const CORRELATION_ID: &str = "x-correlation-id";

/// The caller's correlation id when it sent a valid one, else a new one.
pub fn correlation_id(req: &Request) -> crate::events::CorrelationId {
    req.headers()
        .get(CORRELATION_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(crate::events::CorrelationId::new)
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON Pointer to the field in the request body, e.g. `/items/0/quantity`.
    pub field: String,
    pub message: String,
}

/// An `application/problem+json` error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:eventmart:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: vec![],
        }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            format!("invalid fields: {}", names.join(", ")),
        );
        p.errors = errors;
        p
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", what)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// A failure of ours, not the client's: retrying later may help.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    pub fn into_response(self) -> Response<Body> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).unwrap_or_default();
        with_body(status, "application/problem+json", body)
    }
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    with_body(
        status,
        "application/json",
        serde_json::to_string(value).unwrap_or_default(),
    )
}

pub fn with_body(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The request body as JSON: 413 past [`MAX_BODY_BYTES`], 415 for another media type,
/// 400 for bytes that are not JSON.
pub fn json_body(req: &Request) -> Result<Value, Problem> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!(
                "the body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
                bytes.len()
            ),
        ));
    }
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "media-type",
                "the body must be application/json",
            ));
        }
    }
    if bytes.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "a JSON object body is required",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("the body is not JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "the body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Reads the fields of a JSON object, collecting every error rather than stopping at
/// the first, so that a client learns all that is wrong in one response.
pub struct Fields<'a> {
    value: &'a Value,
    prefix: String,
    errors: Vec<FieldError>,
    allowed: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    pub fn new(value: &'a Value) -> Self {
        Self {
            value,
            prefix: String::new(),
            errors: vec![],
            allowed: vec![],
        }
    }

    fn nested(value: &'a Value, prefix: String) -> Self {
        Self {
            value,
            prefix,
            errors: vec![],
            allowed: vec![],
        }
    }

    fn pointer(&self, name: &str) -> String {
        format!("{}/{}", self.prefix, name)
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let field = self.pointer(field);
        self.errors.push(FieldError {
            field,
            message: message.into(),
        });
    }

    /// A required field, parsed into `T` (whose own validation gives the message).
    pub fn required<T: DeserializeOwned>(&mut self, name: &'static str) -> Option<T> {
        self.allowed.push(name);
        match self.value.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "is required");
                None
            }
            Some(v) => self.parse(name, v),
        }
    }

    /// A field the API does not accept (any more): present, even as `null`, it is an
    /// error with `message`; absent, nothing. Not reported again as an unknown field.
    pub fn refused(&mut self, name: &'static str, message: &str) {
        self.allowed.push(name);
        if self.value.get(name).is_some() {
            self.error(name, message);
        }
    }

    /// An optional field.
    pub fn optional<T: DeserializeOwned>(&mut self, name: &'static str) -> Option<Option<T>> {
        self.allowed.push(name);
        match self.value.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(v) => self.parse(name, v).map(Some),
        }
    }

    fn parse<T: DeserializeOwned>(&mut self, name: &str, v: &Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(v) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = e.path().to_string();
                let field = if inner == "." {
                    name.to_owned()
                } else {
                    format!("{name}/{}", inner.replace('.', "/"))
                };
                let msg = e.into_inner().to_string();
                let msg = msg.split(" at line ").next().unwrap_or_default().to_owned();
                self.error(&field, msg);
                None
            }
        }
    }

    /// A required array of objects, each read by `each`; `min..=max` elements.
    pub fn array<T>(
        &mut self,
        name: &'static str,
        min: usize,
        max: usize,
        mut each: impl FnMut(&mut Fields<'_>) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.allowed.push(name);
        let Some(items) = self.value.get(name).and_then(Value::as_array) else {
            self.error(name, "is required and must be an array");
            return None;
        };
        if items.len() < min || items.len() > max {
            self.error(name, format!("must hold {min} to {max} elements"));
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let mut f = Fields::nested(item, self.pointer(&format!("{name}/{i}")));
            if !item.is_object() {
                f.errors.push(FieldError {
                    field: f.prefix.clone(),
                    message: "must be an object".into(),
                });
                ok = false;
                self.errors.append(&mut f.errors);
                continue;
            }
            let v = each(&mut f);
            let errors = f.finish_errors();
            ok &= errors.is_empty() && v.is_some();
            self.errors.extend(errors);
            if let Some(v) = v {
                out.push(v);
            }
        }
        ok.then_some(out)
    }

    fn finish_errors(mut self) -> Vec<FieldError> {
        if let Some(obj) = self.value.as_object() {
            for k in obj.keys() {
                if !self.allowed.contains(&k.as_str()) {
                    let field = self.pointer(k);
                    self.errors.push(FieldError {
                        field,
                        message: "is not a known field".into(),
                    });
                }
            }
        }
        self.errors
    }

    /// Every error found, unknown fields included; `Ok` when there are none.
    pub fn finish(self) -> Result<(), Problem> {
        let errors = self.finish_errors();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::invalid(errors))
        }
    }
}

/// One route of an HTTP API: its method, its path template as `template.yaml` writes it
/// (`/orders/{orderId}/cancel`), and what the handler calls it.
pub type RouteSpec<T> = (Method, &'static str, T);

/// A request matched to one of a function's routes, with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<T> {
    pub route: T,
    params: Vec<(&'static str, String)>,
}

impl<T> Matched<T> {
    /// The path parameter `name` (`orderId` for `{orderId}`), as sent.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The path parameter `name` parsed into an id. An id that cannot parse names no
    /// resource: it is answered exactly as an id that exists nowhere (404, naming
    /// `what`), so a path is never a validation error.
    pub fn id<I: std::str::FromStr>(&self, name: &str, what: &str) -> Result<I, Problem> {
        let raw = self.param(name);
        raw.parse()
            .map_err(|_| Problem::not_found(format!("{what} {raw} does not exist")))
    }
}

/// The one routing policy of every function: the route whose template matches the
/// path and whose method is the request's; a path no template matches is 404, a path
/// that matches with another method is 405 with `Allow`. Trailing and doubled slashes
/// are ignored, as API Gateway does.
// The error is the response itself, built once per request and returned at once.
#[allow(clippy::result_large_err)]
pub fn route<T: Copy>(
    req: &Request,
    routes: &[RouteSpec<T>],
) -> Result<Matched<T>, Response<Body>> {
    let path: Vec<&str> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut allowed: Vec<Method> = vec![];
    for (method, template, route) in routes {
        let Some(params) = match_template(template, &path) else {
            continue;
        };
        if method == req.method() {
            return Ok(Matched {
                route: *route,
                params,
            });
        }
        allowed.push(method.clone());
    }
    if allowed.is_empty() {
        Err(Problem::not_found(format!("no route for {}", req.uri().path())).into_response())
    } else {
        Err(method_not_allowed(&allowed))
    }
}

/// The path parameters of `path` under `template`, if it matches.
fn match_template(template: &'static str, path: &[&str]) -> Option<Vec<(&'static str, String)>> {
    let parts: Vec<&'static str> = template.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != path.len() {
        return None;
    }
    let mut params = vec![];
    for (part, seg) in parts.iter().zip(path) {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.push((name, (*seg).to_owned())),
            None if part == seg => {}
            None => return None,
        }
    }
    Some(params)
}

/// 405 with the methods the resource allows.
pub fn method_not_allowed(allowed: &[Method]) -> Response<Body> {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let mut resp = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method",
        format!("allowed: {}", names.join(", ")),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters, or a 400.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, Problem> {
    let Some(v) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or_default();
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "idempotency-key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(s.to_owned()))
}

/// A response as the idempotency record stores it, to replay to a retried request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Value,
}

impl StoredResponse {
    pub fn new<T: Serialize>(status: StatusCode, body: &T) -> Self {
        Self {
            status: status.as_u16(),
            body: serde_json::to_value(body).unwrap_or(Value::Null),
        }
    }

    /// A refusal (404, 409, ...) kept under an Idempotency-Key, so that a retry of a
    /// request that succeeded once is answered as it was, not refused.
    pub fn refusal(problem: &Problem) -> Self {
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT);
        Self::new(status, problem)
    }

    /// The response, first or replayed: refusals as problem documents.
    pub fn into_response(self) -> Response<Body> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        if status.is_client_error() || status.is_server_error() {
            return with_body(status, "application/problem+json", self.body.to_string());
        }
        json(status, &self.body)
    }

    /// As [`StoredResponse::into_response`], with `Location: {collection}/{body[id_field]}`
    /// on a 201.
    pub fn into_created_response(self, collection: &str, id_field: &str) -> Response<Body> {
        let location = (self.status == StatusCode::CREATED.as_u16())
            .then(|| self.body.get(id_field).and_then(Value::as_str))
            .flatten()
            .and_then(|id| HeaderValue::from_str(&format!("{collection}/{id}")).ok());
        let mut resp = self.into_response();
        if let Some(location) = location {
            resp.headers_mut().insert(header::LOCATION, location);
        }
        resp
    }
}

/// The JSON value an HTTP request is recorded under: its key and its body, so that the
/// same key with another body is told apart (422).
///
/// The record is the caller's own: keyed by the caller (the token's `sub`), the route and
/// the `Idempotency-Key`, so that another caller who sends the same key (guessed, or
/// reused by a shared client) makes a request of their own and is never answered with
/// someone else's stored response, nor told (by a 422) that the key is taken. A customer
/// id holds no `#` and the route is the handler's own, so `<caller>#<route>#<key>` names
/// one (caller, route, key) only.
pub fn idempotency_event(caller: &CustomerId, key: &str, route: &str, body: &Value) -> Value {
    serde_json::json!({ "key": format!("{caller}#{route}#{key}"), "body": body })
}

/// The idempotency configuration of HTTP producers: key and body from
/// [`idempotency_event`], kept 24 hours. A request whose key is in progress is answered
/// 409 at once (the client retries), not held open.
pub fn idempotency_config(function_name: &str) -> dynamodb_idempotency::Config {
    dynamodb_idempotency::Config::for_eventbridge(function_name)
        .with_key_pointer("/key")
        .with_payload_pointer(Some("/body".into()))
        .with_wait_for_in_progress(false)
}

/// The problem for an idempotency failure on an HTTP request.
pub fn idempotency_problem<E: std::fmt::Display>(
    e: dynamodb_idempotency::IdempotencyError<E>,
    handler: impl FnOnce(E) -> Problem,
) -> Problem {
    use dynamodb_idempotency::IdempotencyError as I;
    match e {
        I::PayloadMismatch { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "this Idempotency-Key was used with a different request body",
        ),
        I::AlreadyInProgress { .. } => Problem::new(
            StatusCode::CONFLICT,
            IN_PROGRESS,
            "a request with this Idempotency-Key is in progress; retry shortly",
        ),
        I::Handler(e) => handler(e),
        other => {
            tracing::error!(error = %other, "idempotency failure");
            Problem::unavailable(
                "the request could not be completed; retry with the same Idempotency-Key",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        Place,
        Get,
        Cancel,
    }

    const ROUTES: &[RouteSpec<Op>] = &[
        (Method::POST, "/orders", Op::Place),
        (Method::GET, "/orders/{orderId}", Op::Get),
        (Method::POST, "/orders/{orderId}/cancel", Op::Cancel),
    ];

    fn request(method: Method, path: &str) -> Request {
        let mut req = Request::new(Body::Empty);
        *req.method_mut() = method;
        *req.uri_mut() = path.parse().unwrap();
        req
    }

    fn status(resp: Response<Body>) -> (u16, Option<String>, Value) {
        let allow = resp
            .headers()
            .get(header::ALLOW)
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        (resp.status().as_u16(), allow, body)
    }

    #[test]
    fn a_route_matches_by_template_and_method() {
        let m = route(&request(Method::POST, "/orders/abc/cancel/"), ROUTES).unwrap();
        assert_eq!(m.route, Op::Cancel);
        assert_eq!(m.param("orderId"), "abc");
        assert_eq!(
            route(&request(Method::POST, "/orders"), ROUTES)
                .unwrap()
                .route,
            Op::Place
        );
        assert_eq!(m.param("missing"), "");
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        let (code, allow, body) =
            status(route(&request(Method::GET, "/nope"), ROUTES).unwrap_err());
        assert_eq!((code, allow), (404, None));
        assert_eq!(body["detail"], "no route for /nope");
        let (code, allow, _) =
            status(route(&request(Method::DELETE, "/orders/x"), ROUTES).unwrap_err());
        assert_eq!((code, allow.as_deref()), (405, Some("GET")));
        let (code, _, _) = status(route(&request(Method::GET, "/orders/x/y"), ROUTES).unwrap_err());
        assert_eq!(code, 404);
    }

    #[test]
    fn an_id_that_cannot_parse_is_not_found() {
        let m = route(&request(Method::GET, "/orders/not-a-number"), ROUTES).unwrap();
        let problem = m.id::<u64>("orderId", "order").unwrap_err();
        assert_eq!(problem.status, 404);
        assert_eq!(problem.detail, "order not-a-number does not exist");
        let m = route(&request(Method::GET, "/orders/42"), ROUTES).unwrap();
        assert_eq!(m.id::<u64>("orderId", "order").unwrap(), 42);
    }

    #[test]
    fn a_refused_field_is_an_error_when_present_and_never_unknown() {
        let body = serde_json::json!({"customerId": null, "plan": "annual", "extra": 1});
        let mut f = Fields::new(&body);
        f.refused("customerId", "is not accepted here");
        f.refused("email", "is not accepted here");
        let plan = f.required::<String>("plan");
        assert_eq!(plan.as_deref(), Some("annual"));
        let problem = f.finish().unwrap_err();
        assert_eq!(
            problem.errors,
            vec![
                FieldError {
                    field: "/customerId".into(),
                    message: "is not accepted here".into()
                },
                FieldError {
                    field: "/extra".into(),
                    message: "is not a known field".into()
                },
            ]
        );
        let absent = serde_json::json!({});
        let mut f = Fields::new(&absent);
        f.refused("customerId", "is not accepted here");
        assert_eq!(f.finish(), Ok(()));
    }

    #[test]
    fn an_idempotency_record_is_keyed_by_caller_route_and_key() {
        let body = serde_json::json!({"n": 1});
        let ada: CustomerId = "ada".parse().unwrap();
        let bob: CustomerId = "bob".parse().unwrap();
        let event = idempotency_event(&ada, "k-1", "POST /orders", &body);
        assert_eq!(
            event,
            serde_json::json!({"key": "ada#POST /orders#k-1", "body": {"n": 1}})
        );
        assert_ne!(
            event["key"],
            idempotency_event(&bob, "k-1", "POST /orders", &body)["key"]
        );
        assert_ne!(
            event["key"],
            idempotency_event(&ada, "k-1", "POST /memberships", &body)["key"]
        );
    }
}
