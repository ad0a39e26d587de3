//! What the emulator's black-box tests share. Each test crate uses part of it.
#![allow(dead_code)]

use eventmart_local::client::{self, HttpResponse};
use std::path::PathBuf;

/// The repository's root, where the template and the sample events are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A JSON file of the repository, parsed (the sample events under `events/`).
pub fn fixture(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One request to a gateway through the crate's HTTP client.
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    client::request(method, &format!("http://{addr}{path}"), headers, Some(body))
        .await
        .expect("request")
}
