//! Structured JSON logs. Every line written inside [`event_span`] carries the event's
//! `eventId` and `correlationId`.

use tracing::Span;
use tracing_subscriber::EnvFilter;

/// JSON logs to stdout (CloudWatch Logs on AWS), level from `RUST_LOG` (default `info`),
/// no ANSI colours and no timestamps' duplicates of what Lambda already records.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// The span for everything done about one event.
pub fn event_span(
    event_id: &dyn std::fmt::Display,
    correlation_id: &dyn std::fmt::Display,
) -> Span {
    tracing::info_span!("event", eventId = %event_id, correlationId = %correlation_id)
}
