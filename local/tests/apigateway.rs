//! The HTTP API over real HTTP, in front of an in-process invoker that records the
//! events it gets and answers what the test says.

use eventmart_local::apigateway::{Gateway, GatewayError, RouteSpec};
use eventmart_local::lambda::{BoxFuture, InvokeError, Invoker};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::{Recorder, request};

async fn gateway(answer: Result<Value, InvokeError>) -> (Gateway, Arc<Recorder>) {
    let recorder = Recorder::answering(answer);
    let routes = vec![
        RouteSpec::new("GET", "/orders/{orderId}", "OrdersFunction"),
        RouteSpec::new("POST", "/orders/{orderId}/cancel", "OrdersFunction"),
        RouteSpec::new("GET", "/dashboard", "AnalyticsFunction"),
    ];
    let gateway = Gateway::start(routes, recorder.clone()).await.unwrap();
    assert!(gateway.addr().ip().is_loopback());
    (gateway, recorder)
}

#[tokio::test]
async fn a_request_becomes_a_payload_2_0_event_for_its_routes_function() {
    let (gateway, recorder) = gateway(Ok(json!({"statusCode": 200, "body": "ok"}))).await;
    let response = request(
        gateway.addr(),
        "POST",
        "/orders/o%2D1/cancel?reason=late&x=1&x=2",
        &[
            ("Cookie", "a=1; b=2"),
            ("X-Trace", "t1"),
            ("Content-Type", "application/json"),
            ("User-Agent", "test/1"),
        ],
        br#"{"why":"late"}"#,
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"ok");
    assert!(response.header("apigw-requestid").is_some());

    let (function, event) = recorder.seen.lock().unwrap()[0].clone();
    assert_eq!(function, "OrdersFunction");
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "POST /orders/{orderId}/cancel");
    assert_eq!(event["rawPath"], "/orders/o%2D1/cancel");
    assert_eq!(event["rawQueryString"], "reason=late&x=1&x=2");
    assert_eq!(event["pathParameters"], json!({"orderId": "o-1"}));
    assert_eq!(
        event["queryStringParameters"],
        json!({"reason": "late", "x": "1,2"})
    );
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-trace"], "t1");
    assert_eq!(event["body"], r#"{"why":"late"}"#);
    assert_eq!(event["isBase64Encoded"], false);
    let http_ctx = &event["requestContext"]["http"];
    assert_eq!(http_ctx["method"], "POST");
    assert_eq!(http_ctx["sourceIp"], "127.0.0.1");
    assert_eq!(http_ctx["userAgent"], "test/1");
    assert_eq!(event["requestContext"]["stage"], "$default");
    assert_eq!(
        event["requestContext"]["requestId"].as_str(),
        response.header("apigw-requestid")
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn binary_request_bodies_reach_the_function_base64_encoded() {
    let (gateway, recorder) = gateway(Ok(json!({"statusCode": 204}))).await;
    let body = [0u8, 159, 146, 150];
    let response = request(
        gateway.addr(),
        "POST",
        "/orders/o-1/cancel",
        &[("Content-Type", "application/octet-stream")],
        &body,
    )
    .await;
    assert_eq!(response.status, 204);
    let event = recorder.seen.lock().unwrap()[0].1.clone();
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "AJ+Slg==");
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_functions_response_becomes_the_http_response() {
    let (gateway, _) = gateway(Ok(json!({
        "statusCode": 201,
        "headers": {"Content-Type": "text/html; charset=utf-8"},
        "multiValueHeaders": {"X-Many": ["1", "2"]},
        "cookies": ["s=1; HttpOnly"],
        "body": "PGgxPmhpPC9oMT4=",
        "isBase64Encoded": true
    })))
    .await;
    let response = request(gateway.addr(), "GET", "/dashboard", &[], b"").await;
    assert_eq!(response.status, 201);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.headers_named("x-many"), ["1", "2"]);
    assert_eq!(response.headers_named("set-cookie"), ["s=1; HttpOnly"]);
    assert_eq!(response.body, b"<h1>hi</h1>");
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_bare_json_answer_is_a_200_json_response() {
    let (gateway, _) = gateway(Ok(json!({"orderId": "o-1"}))).await;
    let response = request(gateway.addr(), "GET", "/orders/o-1", &[], b"").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json().unwrap(), json!({"orderId": "o-1"}));
    gateway.shutdown().await;
}

#[tokio::test]
async fn no_route_is_404_and_a_failure_is_500_as_api_gateway_says_them() {
    let (gateway, recorder) = gateway(Err(InvokeError::Crashed("boom".into()))).await;
    for (method, path) in [
        ("GET", "/nowhere"),
        ("DELETE", "/orders/o-1"),
        ("GET", "/orders"),
    ] {
        let response = request(gateway.addr(), method, path, &[], b"").await;
        assert_eq!(response.status, 404, "{method} {path}");
        assert_eq!(response.json().unwrap(), json!({"message": "Not Found"}));
    }
    assert!(recorder.seen.lock().unwrap().is_empty());
    let response = request(gateway.addr(), "GET", "/orders/o-1", &[], b"").await;
    assert_eq!(response.status, 500);
    assert_eq!(
        response.json().unwrap(),
        json!({"message": "Internal Server Error"})
    );
    gateway.shutdown().await;

    let (gateway, _) = gateway_with_answer(json!({"statusCode": "teapot"})).await;
    let response = request(gateway.addr(), "GET", "/orders/o-1", &[], b"").await;
    assert_eq!(
        response.status, 500,
        "a malformed response is API Gateway's 500"
    );
    gateway.shutdown().await;
}

async fn gateway_with_answer(answer: Value) -> (Gateway, Arc<Recorder>) {
    gateway(Ok(answer)).await
}

#[tokio::test]
async fn invalid_routes_fail_at_start_and_the_port_is_released_at_shutdown() {
    let recorder = Arc::new(Recorder {
        answer: Ok(Value::Null),
        seen: Mutex::new(vec![]),
    });
    let err = Gateway::start(vec![RouteSpec::new("GET", "orders", "F")], recorder.clone())
        .await
        .err();
    assert!(matches!(err, Some(GatewayError::InvalidRoute { .. })));

    let gateway = Gateway::start(vec![RouteSpec::new("GET", "/a", "F")], recorder.clone())
        .await
        .unwrap();
    let addr: SocketAddr = gateway.addr();
    gateway.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens any more"
    );

    // A given address is used as is.
    let given = Gateway::bind(
        "127.0.0.1:0".parse().unwrap(),
        vec![RouteSpec::new("GET", "/a", "F")],
        recorder,
    )
    .await
    .unwrap();
    let mut stream = tokio::net::TcpStream::connect(given.addr()).await.unwrap();
    stream
        .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = vec![];
    stream.read_to_end(&mut raw).await.unwrap();
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    given.shutdown().await;
}

/// Answers after `delay`.
struct Slow(std::time::Duration);

impl Invoker for Slow {
    fn invoke(&self, _: &str, _: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        let delay = self.0;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(json!({"statusCode": 200, "body": "late"}))
        })
    }
}

#[tokio::test]
async fn a_route_past_its_timeout_answers_503_as_api_gateway_does() {
    let ms = std::time::Duration::from_millis;
    let routes = vec![
        RouteSpec::new("GET", "/slow", "F").with_timeout(ms(100)),
        RouteSpec::new("GET", "/patient", "F"),
    ];
    let gateway = Gateway::start(routes, Arc::new(Slow(ms(400))))
        .await
        .unwrap();
    let response = request(gateway.addr(), "GET", "/slow", &[], b"").await;
    assert_eq!(response.status, 503);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body, json!({"message": "Service Unavailable"}));
    let response = request(gateway.addr(), "GET", "/patient", &[], b"").await;
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"late"[..]),
        "the default timeout is API Gateway's 30 s"
    );
    gateway.shutdown().await;
}
