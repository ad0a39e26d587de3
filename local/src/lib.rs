//! The whole Eventmart system on one machine, routed from template.yaml: a Lambda
//! Runtime API for the real function binaries, the HTTP API, an EventBridge bus with
//! rules, retries and dead-letter queues, and DynamoDB stream pollers.

pub mod pattern;

pub use pattern::{Event, EventParseError, Pattern, PatternError};
pub mod bus;
pub mod chaos;
pub mod client;
pub mod demo;
pub mod invoke;
pub mod load;
pub mod moto;
pub mod proxy;
pub mod runtime;
pub mod stack;
pub mod template;
