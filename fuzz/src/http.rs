//! HTTP requests from fuzz input, and what every response of a producer must satisfy.
//!
//! An input is up to [`MAX_STEPS`] requests separated by the byte `0xFF` (which UTF-8
//! text never holds, so JSON bodies stay whole). Each request is two control bytes and a
//! body:
//!
//! - byte 0: bits 0–2 the route (`C` is `orders` or `memberships`): 0 `POST /C`, 1 `POST
//!   /C/{id}/cancel`, 2 `GET /C/{id}`, 3 `PUT /C`, 4 `DELETE /C/{id}`, 5 `POST /C/{id}`,
//!   6 `GET /C/{id}/cancel`, 7 `GET /elsewhere`; bits 3–4 the caller, as the JWT
//!   authorizer passes it (Ada, Bob, no claims at all, Ada's token without a verified
//!   email);
//! - byte 1, flags: bits 0–1 the id (the last one created, a fresh UUID v7, a UUID v4,
//!   the body's first line); bits 2–3 the `Idempotency-Key` (none, `key-a`, `key-b`, a
//!   malformed one); bits 4–5 the `Content-Type` (`application/json`, none,
//!   `text/plain`, `application/json; charset=utf-8`); bit 6 a malformed
//!   `x-correlation-id`; bit 7 a body past the 64 KiB limit.
//!
//! `scripts/fuzz.sh` writes seeds in this form from the request bodies in `events/`.

use dynamodb_idempotency::InMemoryWrite;
use eventmart_shared::events::{Event, EventType};
use eventmart_shared::http::{MAX_BODY_BYTES, Problem};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

pub const MAX_STEPS: usize = 8;

/// One decoded request.
#[derive(Debug)]
pub struct Step<'a> {
    pub route: Route,
    pub caller: Caller,
    pub flags: u8,
    pub body: &'a [u8],
}

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Ada,
    Bob,
    /// No claims: a request no authorizer passed.
    Nobody,
    /// Ada's token, without a verified email.
    Unverified,
}

impl Caller {
    fn of(b: u8) -> Caller {
        match (b >> 3) & 0b11 {
            0 => Caller::Ada,
            1 => Caller::Bob,
            2 => Caller::Nobody,
            _ => Caller::Unverified,
        }
    }

    /// The token's `sub`: the customer of everything the caller creates.
    pub fn sub(self) -> Option<&'static str> {
        match self {
            Caller::Ada | Caller::Unverified => Some("7d4e2a1c-5b3f-4e8a-9c6d-1f2e3a4b5c6d"),
            Caller::Bob => Some("0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"),
            Caller::Nobody => None,
        }
    }

    /// The claims API Gateway's JWT authorizer passes for the caller's id token.
    fn claims(self) -> Option<serde_json::Map<String, Value>> {
        let sub = self.sub()?;
        let (email, verified) = match self {
            Caller::Bob => ("bob@example.com", "true"),
            Caller::Unverified => ("ada@example.com", "false"),
            _ => ("ada@example.com", "true"),
        };
        let claims = serde_json::json!({
            "sub": sub, "email": email, "email_verified": verified, "token_use": "id",
            "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example",
            "aud": "exampleclient", "exp": "4102444800",
        });
        claims.as_object().cloned()
    }

    /// `req` as the function receives it from this caller.
    fn sign(self, req: Request) -> Request {
        use lambda_http::RequestExt;
        use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
        use lambda_http::request::RequestContext;
        let Some(claims) = self.claims() else {
            return req;
        };
        let context: ApiGatewayV2httpRequestContext = serde_json::from_value(serde_json::json!({
            "accountId": "123456789012", "apiId": "api", "stage": "$default",
            "http": {"method": req.method().as_str(), "path": req.uri().path()},
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
        }))
        .expect("a payload 2.0 request context");
        req.with_request_context(RequestContext::ApiGatewayV2(context))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Create,
    Cancel,
    Get,
    WrongCollection,
    WrongItem,
    PostItem,
    GetCancel,
    Elsewhere,
}

impl Route {
    fn of(b: u8) -> Route {
        match b % 8 {
            0 => Route::Create,
            1 => Route::Cancel,
            2 => Route::Get,
            3 => Route::WrongCollection,
            4 => Route::WrongItem,
            5 => Route::PostItem,
            6 => Route::GetCancel,
            _ => Route::Elsewhere,
        }
    }
}

/// The requests of one input.
pub fn steps(data: &[u8]) -> Vec<Step<'_>> {
    data.split(|b| *b == 0xFF)
        .take(MAX_STEPS)
        .filter_map(|chunk| match chunk {
            [r, f, body @ ..] => Some(Step {
                route: Route::of(*r),
                caller: Caller::of(*r),
                flags: *f,
                body,
            }),
            _ => None,
        })
        .collect()
}

/// The request a step makes, against collection `collection` (`orders`), with `last` the
/// id of the resource last created.
pub fn request(collection: &str, step: &Step<'_>, last: Option<&str>) -> Request {
    let id = match step.flags & 0b11 {
        0 => last
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        1 => uuid::Uuid::now_v7().to_string(),
        2 => "0193b3a4-1111-4aaa-8bbb-000000000001".to_owned(),
        _ => {
            // Path text from the body: percent-encode what a URI cannot hold. Never
            // empty: `/orders//cancel` would be another route, not another id.
            let line = step.body.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = if line.is_empty() {
                b"-".as_slice()
            } else {
                line
            };
            line.iter()
                .take(80)
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (*b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect()
        }
    };
    let (method, path) = match step.route {
        Route::Create => (Method::POST, format!("/{collection}")),
        Route::Cancel => (Method::POST, format!("/{collection}/{id}/cancel")),
        Route::Get => (Method::GET, format!("/{collection}/{id}")),
        Route::WrongCollection => (Method::PUT, format!("/{collection}")),
        Route::WrongItem => (Method::DELETE, format!("/{collection}/{id}")),
        Route::PostItem => (Method::POST, format!("/{collection}/{id}")),
        Route::GetCancel => (Method::GET, format!("/{collection}/{id}/cancel")),
        Route::Elsewhere => (Method::GET, format!("/elsewhere/{id}")),
    };
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(path);
    match (step.flags >> 2) & 0b11 {
        0 => {}
        1 => builder = builder.header("idempotency-key", "key-a"),
        2 => builder = builder.header("idempotency-key", "key-b"),
        _ => builder = builder.header("idempotency-key", "has spaces"),
    }
    match (step.flags >> 4) & 0b11 {
        0 => builder = builder.header(header::CONTENT_TYPE, "application/json"),
        1 => {}
        2 => builder = builder.header(header::CONTENT_TYPE, "text/plain"),
        _ => builder = builder.header(header::CONTENT_TYPE, "Application/JSON; charset=utf-8"),
    }
    if step.flags & 0x40 != 0 {
        builder = builder.header("x-correlation-id", "not-a-uuid");
    }
    let mut body = step.body.to_vec();
    if step.flags & 0x80 != 0 {
        body.resize(MAX_BODY_BYTES + 1, b' ');
    }
    let req = builder
        .body(Body::from(body))
        .expect("the request is well formed");
    step.caller.sign(req)
}

/// The statuses openapi.yaml documents for a route that its handler can answer here (the
/// in-memory store never fails, so no 503; only a create needs the verified email whose
/// absence is a 403).
fn documented(route: Route) -> &'static [u16] {
    match route {
        Route::Create => &[201, 400, 401, 403, 409, 413, 415, 422],
        Route::Cancel => &[200, 400, 401, 404, 409, 413, 415, 422],
        Route::Get => &[200, 401, 404],
        Route::WrongCollection | Route::WrongItem | Route::PostItem | Route::GetCancel => &[405],
        Route::Elsewhere => &[404],
    }
}

/// What every response must be: a documented status, JSON of the documented shape, a
/// problem document for every error; a 2xx carries the resource (read by `resource`,
/// which returns its id), the caller's own, a 201 its `Location`. A request without
/// claims is a 401 on every route, a create without a verified email a 403. Returns the
/// id of a created resource.
pub fn check_response(
    collection: &str,
    route: Route,
    caller: Caller,
    resp: &Response<Body>,
    resource: impl Fn(&Value) -> String,
) -> Option<String> {
    let status = resp.status();
    assert!(
        documented(route).contains(&status.as_u16()),
        "{route:?} answered {status}, which openapi.yaml does not document"
    );
    let routed = matches!(route, Route::Create | Route::Cancel | Route::Get);
    if routed && caller == Caller::Nobody {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{route:?} without claims");
    }
    if route == Route::Create && caller == Caller::Unverified {
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a create without a verified email"
        );
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(resp.body().as_ref())
        .unwrap_or_else(|e| panic!("{route:?} {status}: the body is not JSON: {e}"));
    if status.is_success() {
        assert_eq!(content_type, "application/json");
        assert_eq!(
            body["customerId"].as_str(),
            caller.sub(),
            "{route:?}: a resource of another customer, or not the caller's"
        );
        let id = resource(&body);
        if status == StatusCode::CREATED {
            let location = resp
                .headers()
                .get(header::LOCATION)
                .expect("a 201 has Location");
            assert_eq!(location.to_str().unwrap(), format!("/{collection}/{id}"));
            return Some(id);
        }
        return None;
    }
    assert_eq!(
        content_type, "application/problem+json",
        "{route:?} {status}"
    );
    let problem: Problem = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{route:?} {status}: not a problem document ({e}): {body}"));
    assert_eq!(problem.status, status.as_u16());
    let kind = problem
        .kind
        .strip_prefix("urn:eventmart:problem:")
        .expect("problem types are urn:eventmart:problem:*");
    assert!(!kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
    let known: &[&str] = &["type", "title", "status", "detail", "errors"];
    for k in body.as_object().unwrap().keys() {
        assert!(known.contains(&k.as_str()), "unknown problem field {k}");
    }
    if status == StatusCode::UNPROCESSABLE_ENTITY && kind == "validation" {
        assert!(
            !problem.errors.is_empty(),
            "a 422 names its invalid fields: {body}"
        );
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        assert!(resp.headers().contains_key(header::ALLOW));
    }
    None
}

/// Every outbox write committed holds an event that consumers parse: what a producer
/// accepted over HTTP, its consumers accept too.
pub fn check_outbox(writes: &[InMemoryWrite], expected: &[EventType]) {
    for w in writes.iter().filter(|w| w.key.starts_with("OUTBOX#")) {
        let source = w.value["Source"].as_str().expect("Source");
        let detail_type = w.value["DetailType"].as_str().expect("DetailType");
        let ty = EventType::lookup(source, detail_type).expect("an Eventmart event");
        assert!(expected.contains(&ty), "unexpected {detail_type}");
        let detail: Value =
            serde_json::from_str(w.value["Detail"].as_str().expect("Detail")).expect("JSON");
        let event = Event::from_detail(ty, &detail)
            .unwrap_or_else(|e| panic!("the outbox holds an invalid {detail_type}: {e}"));
        crate::check_round_trip(&event);
    }
}

/// A runtime for the handlers' futures (they never wait on anything but memory).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// Runs every request of an input through `handle` and checks each response, the outbox
/// writes each commits (`events` names what each route may emit) and, for a request
/// sent again with the same `Idempotency-Key`, that it gets the first answer again.
pub fn drive<F, Fut>(
    collection: &str,
    data: &[u8],
    store: &dynamodb_idempotency::InMemoryStore,
    events: impl Fn(Route) -> &'static [EventType],
    resource: impl Fn(Route, &Value) -> String,
    handle: F,
) where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    let mut last: Option<String> = None;
    let mut answered: Vec<(String, Vec<u8>, (u16, Value))> = vec![];
    for step in steps(data) {
        let req = request(collection, &step, last.as_deref());
        let keyed = matches!((step.flags >> 2) & 0b11, 1 | 2)
            && matches!(step.route, Route::Create | Route::Cancel);
        // A key is its caller's own: only the same caller's retry replays the answer.
        let signature = format!(
            "{} {} {} {:?}",
            req.uri(),
            step.flags,
            step.route as u8,
            step.caller
        );
        let resp = runtime().block_on(handle(req));
        if let Some(id) = check_response(collection, step.route, step.caller, &resp, |v| {
            resource(step.route, v)
        }) {
            last = Some(id);
        }
        check_outbox(&store.take_committed(), events(step.route));
        if keyed {
            let answer = (
                resp.status().as_u16(),
                serde_json::from_slice::<Value>(resp.body().as_ref()).unwrap_or_default(),
            );
            match answered
                .iter()
                .find(|(s, b, _)| *s == signature && b == step.body)
            {
                Some((_, _, first)) => assert_eq!(
                    &answer, first,
                    "the same request with the same Idempotency-Key got another answer"
                ),
                None => answered.push((signature, step.body.to_vec(), answer)),
            }
        }
    }
}
