//! How the local stack's parts call a function: the HTTP API, the bus and the stream
//! pollers all go through an [`Invoker`], which the Lambda runtime implements.

use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an invocation did not return a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The handler returned an error (Lambda's `Unhandled` function error).
    #[error("{error_type}: {message}")]
    Function { error_type: String, message: String },
    /// The function ran past its timeout; the instance was killed, as Lambda does.
    #[error("Task timed out after {0:?}")]
    Timeout(Duration),
    /// The process exited or was killed before answering.
    #[error("Runtime exited: {0}")]
    Crashed(String),
    /// No function of that name in the template.
    #[error("Function not found: {0}")]
    NoSuchFunction(String),
}

impl InvokeError {
    /// The `errorType` Lambda reports for this failure.
    pub fn error_type(&self) -> &str {
        match self {
            InvokeError::Function { error_type, .. } => error_type,
            InvokeError::Timeout(_) => "Sandbox.Timedout",
            InvokeError::Crashed(_) => "Runtime.ExitError",
            InvokeError::NoSuchFunction(_) => "ResourceNotFoundException",
        }
    }
}

/// Synchronous invocation of a function by its template logical id.
pub trait Invoker: Send + Sync + 'static {
    fn invoke(&self, function: &str, payload: Value) -> BoxFuture<'_, Result<Value, InvokeError>>;
}
