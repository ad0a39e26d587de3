//! What the emulator's black-box tests share. Each test crate uses part of it.
#![allow(dead_code)]

pub mod cdp;

use eventmart_local::client::{self, HttpResponse};
use eventmart_local::lambda::{BoxFuture, InvokeError, Invoker};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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

/// An in-process invoker: answers every invocation with `answer`, keeping
/// (function, event).
pub struct Recorder {
    pub answer: Result<Value, InvokeError>,
    pub seen: Mutex<Vec<(String, Value)>>,
}

impl Recorder {
    pub fn answering(answer: Result<Value, InvokeError>) -> Arc<Recorder> {
        Arc::new(Recorder {
            answer,
            seen: Mutex::new(vec![]),
        })
    }

    /// The events received so far.
    pub fn events(&self) -> Vec<Value> {
        self.seen
            .lock()
            .map(|s| s.iter().map(|(_, e)| e.clone()).collect())
            .unwrap_or_default()
    }
}

impl Invoker for Recorder {
    fn invoke(&self, function: &str, payload: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((function.to_owned(), payload));
        }
        let answer = self.answer.clone();
        Box::pin(async move { answer })
    }
}

/// A fresh copy of a Python fixture function (`tests/fixtures/<file>`) as an executable
/// `bootstrap` with a shebang naming the interpreter, in a directory of its own (the task
/// root); removed when dropped.
pub struct PythonBootstrap {
    pub dir: PathBuf,
    pub binary: PathBuf,
}

impl PythonBootstrap {
    pub fn new(file: &str) -> Self {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| manifest.join("../.venv/bin/python"));
        let source =
            std::fs::read_to_string(manifest.join("tests/fixtures").join(file)).expect("fixture");
        let dir = std::env::temp_dir().join(format!(
            "eventmart-function-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let binary = dir.join("bootstrap");
        std::fs::write(&binary, format!("#!{}\n{source}", python.display()))
            .expect("write fixture");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        PythonBootstrap { dir, binary }
    }
}

impl Drop for PythonBootstrap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
