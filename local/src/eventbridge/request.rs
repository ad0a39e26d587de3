//! What every operation of the EventBridge JSON API shares: the error shape, reading
//! request members, timestamps and pagination.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

/// A request-level error, shaped as AWS's JSON protocol does:
/// `{"__type": "<code>", "message": "..."}` with HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub(crate) fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.with_status(StatusCode::BAD_REQUEST)
    }
}

impl ApiError {
    pub(super) fn with_status(self, status: StatusCode) -> Response {
        let body = json!({"__type": self.code, "message": self.message}).to_string();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            h.insert("x-amzn-errortype", v);
        }
        resp
    }
}

pub(super) const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An optional string member; a non-string is a serialization error, as in AWS.
pub(crate) fn opt_str<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::serialization(format!(
            "Value for '{key}' must be a string"
        ))),
    }
}

pub(crate) fn req_str<'a>(v: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    opt_str(v, key)?.ok_or_else(|| missing(key))
}

/// AWS's answer to a required member that is absent.
pub(crate) fn missing(key: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(key)
    ))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// `Time` comes as epoch seconds (what the SDKs send) or as an RFC 3339 string.
pub(crate) fn parse_time(v: &Value) -> Result<Option<DateTime<Utc>>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            let secs = n.as_f64().unwrap_or(f64::NAN);
            if !secs.is_finite() {
                return Err(ApiError::serialization("Time is not a valid timestamp"));
            }
            let whole = secs.floor();
            let nanos = ((secs - whole) * 1e9) as u32;
            Utc.timestamp_opt(whole as i64, nanos)
                .single()
                .map(Some)
                .ok_or_else(|| ApiError::serialization("Time is out of range"))
        }
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ApiError::serialization(format!("Time '{s}' is not a valid timestamp"))),
        _ => Err(ApiError::serialization("Time must be a timestamp")),
    }
}

/// A list operation's answer: one page of `items` under `key`, and `NextToken` when
/// more follow.
pub(crate) fn paged(key: &str, items: Vec<Value>, req: &Value) -> Result<Value, ApiError> {
    let (items, next) = page(items, req)?;
    let mut out = json!({ key: items });
    if let Some(n) = next {
        out["NextToken"] = Value::String(n);
    }
    Ok(out)
}

/// Pagination: `NextToken` is the index of the next item.
fn page<T>(items: Vec<T>, req: &Value) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match opt_str(req, "NextToken")? {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| ApiError::validation("The NextToken is not valid."))?,
        None => 0,
    };
    let limit = match req.get("Limit") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100) => n as usize,
            _ => {
                return Err(ApiError::validation(
                    "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value between 1 and 100",
                ));
            }
        },
    };
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = (start + out.len() < total).then(|| (start + out.len()).to_string());
    Ok((out, next))
}
