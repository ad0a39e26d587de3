//! Chaos switches: what EventBridge and Lambda are allowed to do, done on purpose.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chaos {
    /// Fraction (0..=1) of deliveries made 2..=`max_copies` times, concurrently.
    pub duplicate_fraction: f64,
    /// Most copies of a duplicated delivery (at least 2).
    pub max_copies: u32,
    /// Deliveries are held up to this long and released in random order.
    pub reorder_window: Duration,
    /// Fraction (0..=1) of invocations whose instance is killed midway.
    pub kill_fraction: f64,
}

impl Chaos {
    pub fn off() -> Self {
        Self {
            max_copies: 2,
            ..Self::default()
        }
    }

    pub fn is_off(&self) -> bool {
        self.duplicate_fraction == 0.0 && self.reorder_window.is_zero() && self.kill_fraction == 0.0
    }
}
