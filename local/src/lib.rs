//! The local stack (being built).

pub mod pattern;

pub use pattern::{Event, EventParseError, Pattern, PatternError};
