use super::*;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Version};
use serde_json::json;

fn table(routes: &[(&str, &str, &str)]) -> RouteTable {
    RouteTable::new(
        routes
            .iter()
            .map(|(m, p, f)| RouteSpec::new(*m, *p, *f))
            .collect(),
    )
    .unwrap()
}

#[test]
fn the_most_specific_route_wins() {
    let t = table(&[
        ("ANY", "$default", "Default"),
        ("GET", "/files/{proxy+}", "Greedy"),
        ("GET", "/orders/{orderId}", "Param"),
        ("GET", "/orders/special", "Literal"),
        ("ANY", "/orders/{orderId}/cancel", "AnyCancel"),
        ("post", "/orders/{orderId}/cancel", "PostCancel"),
        ("GET", "/", "Root"),
    ]);
    let f = |m: &str, p: &str| t.find(m, p).map(|x| x.function.to_owned());
    assert_eq!(f("GET", "/orders/special").as_deref(), Some("Literal"));
    assert_eq!(f("GET", "/orders/o-1").as_deref(), Some("Param"));
    assert_eq!(
        f("POST", "/orders/o-1/cancel").as_deref(),
        Some("PostCancel")
    );
    assert_eq!(f("PUT", "/orders/o-1/cancel").as_deref(), Some("AnyCancel"));
    assert_eq!(f("GET", "/files/a/b%20c").as_deref(), Some("Greedy"));
    assert_eq!(f("GET", "/").as_deref(), Some("Root"));
    assert_eq!(f("DELETE", "/orders/o-1").as_deref(), Some("Default"));
    assert_eq!(
        f("GET", "/files").as_deref(),
        Some("Default"),
        "greedy needs a segment"
    );

    let m = t.find("GET", "/orders/o%2F1").unwrap();
    assert_eq!(m.route_key, "GET /orders/{orderId}");
    assert_eq!(m.params, vec![("orderId".into(), "o/1".into())]);
    let m = t.find("GET", "/files/a/b%20c").unwrap();
    assert_eq!(m.params, vec![("proxy".into(), "a/b c".into())]);
    assert_eq!(t.find("GET", "/x").unwrap().route_key, "$default");
}

#[test]
fn without_a_default_route_unmatched_requests_find_nothing() {
    let t = table(&[("GET", "/orders/{orderId}", "Orders")]);
    assert!(t.find("POST", "/orders/o-1").is_none(), "wrong method");
    assert!(t.find("GET", "/orders").is_none());
    assert!(t.find("GET", "/orders/o-1/x").is_none());
    assert!(t.find("GET", "/orders/").is_none(), "an empty parameter");
}

#[test]
fn bad_and_duplicate_routes_are_errors_naming_the_route() {
    for (method, path) in [
        ("FETCH", "/a"),
        ("GET", "a"),
        ("GET", "/a/{b+}/c"),
        ("GET", "/a/{}"),
        ("GET", "/a/x{b}"),
        ("GET", "/a//b"),
    ] {
        let err = RouteTable::new(vec![RouteSpec::new(method, path, "F")]).unwrap_err();
        assert!(
            matches!(&err, GatewayError::InvalidRoute { route, .. } if route == &format!("{method} {path}")),
            "{err}"
        );
    }
    let err = RouteTable::new(vec![
        RouteSpec::new("GET", "/a/{x}", "F"),
        RouteSpec::new("get", "/a/{y}", "G"),
    ])
    .unwrap_err();
    assert!(matches!(err, GatewayError::DuplicateRoute(_)), "{err}");
}

fn event_for(headers: &HeaderMap, query: &str, body: &[u8]) -> serde_json::Value {
    let now = chrono::DateTime::parse_from_rfc3339("2024-03-12T19:03:58.123Z")
        .unwrap()
        .to_utc();
    build_event(&EventInput {
        method: "POST",
        raw_path: "/orders/o%201/cancel",
        raw_query: query,
        headers,
        version: Version::HTTP_11,
        body,
        source_ip: "127.0.0.1".into(),
        route_key: "POST /orders/{orderId}/cancel",
        params: &[("orderId".into(), "o 1".into())],
        request_id: "req-1",
        now,
    })
}

#[test]
fn the_event_is_api_gateway_payload_2_0() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("shop.example.com:8080"));
    headers.insert("user-agent", HeaderValue::from_static("curl/8"));
    headers.append("x-multi", HeaderValue::from_static("a"));
    headers.append("x-multi", HeaderValue::from_static("b"));
    headers.insert("cookie", HeaderValue::from_static("s=1; t=2"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let e = event_for(&headers, "x=1&x=2&y=a+b%21&flag", br#"{"reason":"late"}"#);

    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "POST /orders/{orderId}/cancel");
    assert_eq!(e["rawPath"], "/orders/o%201/cancel");
    assert_eq!(e["rawQueryString"], "x=1&x=2&y=a+b%21&flag");
    assert_eq!(e["cookies"], json!(["s=1", "t=2"]));
    assert_eq!(e["headers"]["x-multi"], "a,b");
    assert!(e["headers"].get("cookie").is_none());
    assert_eq!(
        e["queryStringParameters"],
        json!({"x": "1,2", "y": "a b!", "flag": ""})
    );
    assert_eq!(e["pathParameters"], json!({"orderId": "o 1"}));
    assert_eq!(e["body"], r#"{"reason":"late"}"#);
    assert_eq!(e["isBase64Encoded"], false);
    let rc = &e["requestContext"];
    assert_eq!(rc["accountId"], crate::aws::ACCOUNT_ID);
    assert_eq!(rc["domainName"], "shop.example.com:8080");
    assert_eq!(rc["domainPrefix"], "shop");
    assert_eq!(
        rc["http"],
        json!({"method": "POST", "path": "/orders/o%201/cancel", "protocol": "HTTP/1.1",
               "sourceIp": "127.0.0.1", "userAgent": "curl/8"})
    );
    assert_eq!(rc["requestId"], "req-1");
    assert_eq!(rc["routeKey"], "POST /orders/{orderId}/cancel");
    assert_eq!(rc["stage"], "$default");
    assert_eq!(rc["time"], "12/Mar/2024:19:03:58 +0000");
    assert_eq!(rc["timeEpoch"], 1_710_270_238_123_i64);
}

#[test]
fn binary_bodies_are_base64_and_absent_parts_are_left_out() {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("image/png"));
    let e = event_for(&headers, "", &[0x89, b'P', b'N', b'G']);
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(e["body"], base64_encode(&[0x89, b'P', b'N', b'G']));
    assert!(e.get("queryStringParameters").is_none());
    assert!(e.get("cookies").is_none());

    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let e = event_for(&headers, "", &[0xff, 0xfe]);
    assert_eq!(
        e["isBase64Encoded"], true,
        "text that is not UTF-8 is encoded"
    );
    let e = event_for(&HeaderMap::new(), "", b"");
    assert!(e.get("body").is_none());
    assert_eq!(e["isBase64Encoded"], false);
}

async fn body_of(response: axum::response::Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn structured_responses_map_to_http() {
    let r = to_http(&json!({
        "statusCode": 201,
        "headers": {"content-type": "text/plain", "x-n": 5},
        "multiValueHeaders": {"x-m": ["a", "b"]},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": base64_encode(b"\x00hi"),
        "isBase64Encoded": true
    }))
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.headers()["x-n"], "5");
    let m: Vec<_> = r.headers().get_all("x-m").iter().collect();
    assert_eq!(m, ["a", "b"]);
    let c: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
    assert_eq!(c, ["a=1; Path=/", "b=2"]);
    assert_eq!(body_of(r).await, b"\x00hi");

    let r = to_http(&json!({"statusCode": 204})).unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(body_of(r).await.is_empty());
}

#[tokio::test]
async fn any_other_json_is_a_200_with_that_json() {
    for value in [
        json!({"ok": true}),
        json!([1, 2]),
        json!("text"),
        json!(null),
    ] {
        let r = to_http(&value).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(body_of(r).await, serde_json::to_vec(&value).unwrap());
    }
}

#[test]
fn malformed_responses_are_rejected() {
    for bad in [
        json!({"statusCode": "200"}),
        json!({"statusCode": 42}),
        json!({"statusCode": 200, "headers": []}),
        json!({"statusCode": 200, "headers": {"x": {}}}),
        json!({"statusCode": 200, "headers": {"bad name": "x"}}),
        json!({"statusCode": 200, "body": 5}),
        json!({"statusCode": 200, "body": "!!", "isBase64Encoded": true}),
        json!({"statusCode": 200, "cookies": "a=1"}),
    ] {
        assert!(to_http(&bad).is_err(), "{bad}");
    }
}
