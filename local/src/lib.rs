//! AWS on one machine, run from a SAM template: a Lambda Runtime API for the real function
//! binaries, the HTTP API, an EventBridge bus with rules, retries and dead-letter queues,
//! and DynamoDB stream pollers, in front of moto for DynamoDB, SQS and SES.
//!
//! The modules are named after the services they stand in for: [`template`] (the
//! template model), [`lambda`], [`apigateway`], [`eventbridge`], [`event_source_mapping`]
//! (DynamoDB Streams), [`pattern`] (EventBridge's pattern language), [`servers`] (moto and
//! the per-function proxy in front of it), and [`stack`], which wires a template's
//! resources into one running stack. [`eventmart`] is the Eventmart demo and workload,
//! which use the emulator only through this public API.

pub mod apigateway;
pub mod aws;
pub mod chaos;
pub mod client;
pub mod cognito;
pub mod encoding;
pub mod event_source_mapping;
pub mod eventbridge;
pub mod eventmart;
pub mod firehose;
pub mod lambda;
pub mod log;
pub mod pattern;
pub mod servers;
pub mod sqs;
pub mod stack;
pub mod template;
pub mod warehouse;

pub use pattern::{Event, EventParseError, Pattern, PatternError};
