//! Classification of AWS SDK errors: the one place that decides what is retryable.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::Error;
use crate::error::error_chain;
use crate::redact::scrub;

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
];

const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
];

/// The error code AWS answered with, if the call reached AWS.
pub fn error_code<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service_error) => service_error.err().code(),
        _ => None,
    }
}

/// Turns an SDK error into our error, classified retryable or terminal.
pub fn aws_error<E>(
    service: &'static str,
    operation: &'static str,
    error: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(service_error) => {
            let code = service_error.err().code().unwrap_or("Unknown").to_string();
            // AWS quotes what it refused, which may be a document holding a secret.
            let message = scrub(service_error.err().message().unwrap_or_default());
            let status = service_error.raw().status().as_u16();
            if ACCESS_DENIED_CODES.contains(&code.as_str()) || status == 403 {
                return Error::AccessDenied {
                    service,
                    operation,
                    message: if message.is_empty() { code } else { message },
                };
            }
            let retryable = status >= 500
                || status == 429
                || THROTTLING_CODES.contains(&code.as_str())
                || code.ends_with("ServerException")
                || code == "ServiceUnavailable"
                || code == "InternalFailure";
            Error::Aws {
                service,
                operation,
                code,
                message,
                retryable,
            }
        }
        // Timeouts, connection failures and unreadable responses: the request may not
        // have reached AWS, and trying again later is the right answer.
        other => Error::Aws {
            service,
            operation,
            code: "Transport".to_string(),
            message: error_chain(other),
            retryable: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_iam::error::ErrorMetadata;
    use aws_sdk_iam::operation::update_assume_role_policy::UpdateAssumeRolePolicyError;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// IAM refusing a trust policy, quoting the document it refused.
    fn refusal(message: &str) -> SdkError<UpdateAssumeRolePolicyError, HttpResponse> {
        let error = UpdateAssumeRolePolicyError::generic(
            ErrorMetadata::builder()
                .code("MalformedPolicyDocument")
                .message(message)
                .build(),
        );
        let response = HttpResponse::new(400.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(error, response)
    }

    #[test]
    fn a_known_secret_quoted_by_aws_never_reaches_the_error_text() {
        let external_id = "quoted-by-aws-0123456789";
        crate::redact::remember(external_id);
        let error = aws_error(
            "IAM",
            "UpdateAssumeRolePolicy",
            refusal(&format!(
                "Invalid condition value {external_id} in {{\"sts:ExternalId\":\"{external_id}\"}}"
            )),
        );
        for text in [error.to_string(), error.redacted(), error_chain(&error)] {
            assert!(!text.contains(external_id), "{text}");
            assert!(text.contains("MalformedPolicyDocument"), "{text}");
        }
        assert_eq!(error.reason(), crate::Reason::ReconcileError);
    }
}
