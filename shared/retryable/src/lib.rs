//! Whether trying again can help.
//!
//! Every error that crosses a port (a store, a mailer, a bus) answers one question: can
//! the same request, sent again later, succeed? [`Retryable`] is that question, asked one
//! way everywhere, and [`sdk::is_retryable`] is the one answer for errors of the AWS SDK
//! for Rust, so that every adapter classifies throttling, faults and rejections alike.
//!
//! ```
//! use retryable::Retryable;
//!
//! #[derive(Debug)]
//! enum MailError {
//!     Rejected(String),
//!     Unavailable(String),
//! }
//!
//! impl Retryable for MailError {
//!     fn is_retryable(&self) -> bool {
//!         matches!(self, MailError::Unavailable(_))
//!     }
//! }
//!
//! assert!(MailError::Unavailable("503".into()).is_retryable());
//! assert!(!MailError::Rejected("bad address".into()).is_retryable());
//! ```

/// An error that knows whether a retry of the same request can succeed.
pub trait Retryable {
    /// `true` when the failure is transient (throttling, a fault, a timeout, a conflict
    /// with a concurrent writer); `false` when the same request fails the same way again.
    fn is_retryable(&self) -> bool;
}

impl<T: Retryable + ?Sized> Retryable for &T {
    fn is_retryable(&self) -> bool {
        (**self).is_retryable()
    }
}

impl<T: Retryable + ?Sized> Retryable for Box<T> {
    fn is_retryable(&self) -> bool {
        (**self).is_retryable()
    }
}

/// Never fails, so never needs a retry: for handlers that cannot fail.
impl Retryable for std::convert::Infallible {
    fn is_retryable(&self) -> bool {
        match *self {}
    }
}

/// The classification of AWS SDK errors.
pub mod sdk {
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::Response;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    /// Codes a service answers for a request that will fail the same way again:
    /// malformed, unauthorised, naming something that does not exist, or refused by
    /// policy. DynamoDB's, SQS's, EventBridge's and SES's, and the codes every service
    /// shares.
    pub const PERMANENT_CODES: &[&str] = &[
        // Every service.
        "ValidationException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidClientTokenId",
        "SerializationException",
        "InvalidParameterValue",
        "InvalidParameterException",
        // SES v2.
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "BadRequestException",
        "NotFoundException",
        "AccountSuspendedException",
        "SendingPausedException",
        // SQS.
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "InvalidMessageContents",
    ];

    /// Codes a service answers for a request that can succeed later: throttling, limits
    /// that refill, concurrent writers, and the service's own faults. Among them some
    /// that come with a 400 status, which is why the status alone cannot decide.
    pub const TRANSIENT_CODES: &[&str] = &[
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "ProvisionedThroughputExceededException",
        "TransactionConflictException",
        "TransactionInProgressException",
        // A canceled transaction is retryable as such; its callers read the
        // cancellation reasons first and treat failed conditions as the answer.
        "TransactionCanceledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    ];

    /// Whether sending the same request again can succeed.
    ///
    /// * A request the SDK could not build fails the same way again.
    /// * A request that never got an answer (connection refused or reset, a timeout,
    ///   an unreadable response) can succeed.
    /// * A service error is decided by its code ([`PERMANENT_CODES`],
    ///   [`TRANSIENT_CODES`]); an unknown code by its status: 429 and 5xx are
    ///   transient, other 4xx are the caller's fault.
    pub fn is_retryable<E: ProvideErrorMetadata>(e: &SdkError<E, Response>) -> bool {
        match e {
            SdkError::ConstructionFailure(_) => false,
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                classify(se.err().code(), status)
            }
            _ => true,
        }
    }

    /// The decision of [`is_retryable`] for a service error's code and HTTP status.
    pub fn classify(code: Option<&str>, status: u16) -> bool {
        match code {
            Some(code) if PERMANENT_CODES.contains(&code) => false,
            Some(code) if TRANSIENT_CODES.contains(&code) => true,
            _ => status == 429 || !(400..500).contains(&status),
        }
    }

    /// The error with its sources, as one line for a log or a dead letter.
    pub fn describe<E: std::error::Error + 'static>(e: &SdkError<E, Response>) -> String {
        aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::sdk::{self, classify};
    use super::*;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    #[derive(Debug)]
    struct ServiceErr(ErrorMetadata);

    impl std::fmt::Display for ServiceErr {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0.code())
        }
    }
    impl std::error::Error for ServiceErr {}
    impl ProvideErrorMetadata for ServiceErr {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn service_error(code: &str, status: u16) -> SdkError<ServiceErr, Response> {
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        let meta = ErrorMetadata::builder().code(code).build();
        SdkError::service_error(ServiceErr(meta), raw)
    }

    #[test]
    fn codes_decide_before_the_status() {
        // DynamoDB answers throttling and transaction conflicts with 400.
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "TransactionConflictException",
            "TransactionCanceledException",
        ] {
            assert!(sdk::is_retryable(&service_error(code, 400)), "{code}");
        }
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "UnrecognizedClientException",
            "MessageRejected",
        ] {
            assert!(!sdk::is_retryable(&service_error(code, 400)), "{code}");
        }
        // A permanent code stays permanent whatever status it came with.
        assert!(!sdk::is_retryable(&service_error(
            "AccessDeniedException",
            500
        )));
    }

    #[test]
    fn unknown_codes_go_by_status() {
        assert!(classify(Some("SomethingNew"), 503));
        assert!(classify(Some("SomethingNew"), 429));
        assert!(!classify(Some("SomethingNew"), 400));
        assert!(!classify(None, 403));
        assert!(classify(None, 500));
    }

    #[test]
    fn unsent_requests_are_decided_by_why() {
        let built: SdkError<ServiceErr, Response> =
            SdkError::construction_failure("missing required field");
        assert!(!sdk::is_retryable(&built));
        let timeout: SdkError<ServiceErr, Response> = SdkError::timeout_error("took too long");
        assert!(sdk::is_retryable(&timeout));
        assert!(sdk::describe(&timeout).contains("took too long"));
    }

    #[test]
    fn references_and_boxes_answer_as_what_they_hold() {
        struct Transient;
        impl Retryable for Transient {
            fn is_retryable(&self) -> bool {
                true
            }
        }
        let by_ref: &dyn Retryable = &&Transient;
        assert!(by_ref.is_retryable());
        let boxed: Box<dyn Retryable> = Box::new(Transient);
        assert!(boxed.is_retryable());
    }
}
