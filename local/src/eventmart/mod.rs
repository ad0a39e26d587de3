//! Eventmart on the emulator: the demo and the workload run through a [`LocalStack`]
//! started from Eventmart's template, and the checks that every effect happened. Only this
//! module (and `main.rs`) knows Eventmart's tables, functions and events.
//!
//! [`LocalStack`]: crate::stack::LocalStack

mod api;
mod checks;
pub mod dead_letters;
pub mod demo;
pub mod lake;
pub mod load;
