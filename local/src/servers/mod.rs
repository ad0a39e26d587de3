//! The AWS servers the functions talk to: moto (DynamoDB, DynamoDB Streams, SQS, SES) and
//! the loopback proxy in front of it that each function gets.

pub mod moto;
pub mod proxy;
