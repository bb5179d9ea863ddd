//! A host name that does not resolve (most often a Region that does not exist, such as
//! `eu-westt-1`) fails in the HTTP client with a bare "dns error" that names neither the
//! host nor the Region. This interceptor notes each attempt's host and, when the call
//! ends in such an error, says which host of which Region could not be resolved.

use std::fmt;

use aws_config::Region;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::error::error_chain;

/// The host of the request being sent.
#[derive(Clone, Debug)]
struct AttemptHost(String);

impl Storable for AttemptHost {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
pub struct NameUnresolvedHost;

/// The error a call ends with when its host does not resolve.
#[derive(Debug)]
struct Unresolvable {
    host: String,
    region: Option<String>,
    cause: String,
}

impl fmt::Display for Unresolvable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.region {
            Some(region) => write!(
                f,
                "cannot resolve {}, the endpoint for Region {region}: is the Region right (spec.region, --region, AWS_REGION)? ({})",
                self.host, self.cause
            ),
            None => write!(f, "cannot resolve {} ({})", self.host, self.cause),
        }
    }
}

impl std::error::Error for Unresolvable {}

/// Whether `error` (or a cause of it) is a failed name lookup.
fn is_name_lookup_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.to_string().starts_with("dns error") {
            return true;
        }
        current = error.source();
    }
    false
}

impl Intercept for NameUnresolvedHost {
    fn name(&self) -> &'static str {
        "NameUnresolvedHost"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri();
        let authority = uri.split_once("://").map_or(uri, |(_, rest)| rest);
        let host = authority
            .split(['/', '?'])
            .next()
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default();
        // Without the port (an IPv6 literal keeps its brackets and colons).
        let host = match host.rsplit_once(':') {
            Some((name, port))
                if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => host,
        };
        cfg.interceptor_state()
            .store_put(AttemptHost(host.to_string()));
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Err(error)) = context.output_or_error_mut() else {
            return Ok(());
        };
        let Some(connector) = error.as_connector_error() else {
            return Ok(());
        };
        if !is_name_lookup_failure(connector) {
            return Ok(());
        }
        let Some(AttemptHost(host)) = cfg.load::<AttemptHost>().cloned() else {
            return Ok(());
        };
        let named = Unresolvable {
            host,
            region: cfg.load::<Region>().map(|r| r.to_string()),
            cause: error_chain(connector),
        };
        *error = OrchestratorError::connector(ConnectorError::io(Box::new(named)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::aws::{AwsFactory, AwsTarget, aws_error, sdk_loader};
    use crate::metrics::Metrics;

    /// A host whose first label is longer than DNS allows (63): the resolver refuses it
    /// on this machine, without a query leaving it.
    fn unresolvable_endpoint() -> String {
        format!("http://{}.invalid", "x".repeat(70))
    }

    #[tokio::test]
    async fn a_host_that_does_not_resolve_is_named_with_its_region() {
        let base = sdk_loader()
            .region(aws_config::Region::new("eu-westt-1"))
            .endpoint_url(unresolvable_endpoint())
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .load()
            .await;
        let clients = AwsFactory::from_config(base, Metrics::default())
            .clients(&AwsTarget::default())
            .await
            .unwrap();
        let error = clients
            .ecs
            .describe_clusters()
            .customize()
            .config_override(crate::single_attempt!(aws_sdk_ecs))
            .send()
            .await
            .unwrap_err();
        let text = aws_error("ECS", "DescribeClusters", error).to_string();
        assert!(text.contains("Region eu-westt-1"), "{text}");
        assert!(
            text.contains(&format!("{}.invalid", "x".repeat(70))),
            "{text}"
        );
        assert!(text.contains("dns error"), "the cause is kept: {text}");
    }
}
