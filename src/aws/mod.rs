//! AWS client factory: one SDK configuration and one HTTP connection pool for the whole
//! process, clients cached per (region, assumed role), every request counted.

pub mod budget;
mod errors;

pub use errors::{aws_error, error_code};

mod endpoint;
pub mod model;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use sha2::{Digest, Sha256};

use crate::metrics::{AwsOutcome, Metrics};
use crate::{Error, Result};

/// The User-Agent application name of ecsfleet's AWS calls, by which CloudTrail events
/// of its own writes are recognized and ignored (`runtime::events`).
pub const APP_NAME: &str = "ecsfleet";

/// A string that must never be printed: external IDs and the like.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(pub String);

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

/// Where one object's AWS calls go: its region and, optionally, a role to assume.
#[derive(Clone, Debug, Default)]
pub struct AwsTarget {
    pub region: Option<String>,
    pub assume_role_arn: Option<String>,
    pub assume_role_external_id: Option<Sensitive>,
    /// The namespace the object lives in: named in the assumed role's session
    /// ([`session_name`]), so that CloudTrail shows which namespace acted.
    pub namespace: Option<String>,
}

/// The role session name of the calls made for objects of `namespace`: `ecsfleet@` and
/// the namespace (at most 64 characters, as STS allows).
pub fn session_name(namespace: Option<&str>) -> String {
    let mut name = String::from("ecsfleet");
    if let Some(namespace) = namespace.filter(|n| !n.is_empty()) {
        name.push('@');
        // Namespace names are DNS labels: every character is one STS accepts.
        name.extend(
            namespace
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c)),
        );
    }
    name.truncate(64);
    name
}

/// Process-wide AWS settings from the command line.
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// The AWS call budget, if any ([`budget`]).
    pub budget: Option<budget::BudgetSettings>,
}

/// The clients for one (region, role).
#[derive(Clone, Debug)]
pub struct AccountClients {
    pub region: String,
    pub ecs: aws_sdk_ecs::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    /// The account these credentials act in, asked of STS once.
    account_id: Arc<tokio::sync::OnceCell<String>>,
}

impl AccountClients {
    /// The 12-digit account ID the credentials act in (one `GetCallerIdentity` per
    /// process and role).
    pub async fn account_id(&self) -> Result<String> {
        self.account_id
            .get_or_try_init(|| async {
                let identity = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| aws_error("STS", "GetCallerIdentity", e))?;
                identity
                    .account()
                    .map(str::to_string)
                    .ok_or_else(|| Error::NotReady("GetCallerIdentity returned no account".into()))
            })
            .await
            .cloned()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    region: String,
    role: Option<String>,
    /// A digest, never the external ID itself, so a rotated secret gets fresh credentials.
    external_id_digest: Option<[u8; 32]>,
    /// With a role to assume: the session's name (one session per namespace and role).
    session: Option<String>,
}

/// One HTTP client for every AWS client of the process: one connection pool and one TLS
/// configuration (its trusted roots loaded once). A configuration without one makes
/// every service client build its own; this is the SDK's default client (rustls with
/// aws-lc, proxy settings from the environment), shared.
fn shared_http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The SDK's configuration loader with ecsfleet's retries and timeouts (the tests use it
/// too, so that what they prove under faults is what runs).
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_http_client())
        // In every call's User-Agent, so that CloudTrail records of ecsfleet's own writes
        // are recognized (and ignored) by the event source.
        .app_name(aws_config::AppName::new(APP_NAME).expect("a valid app name"))
        // Standard mode: exponential backoff with full jitter and a retry token bucket, so
        // throttling slows us down instead of turning into a hot loop.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
}

/// A configuration override for one call that must not be retried by the SDK: a write
/// that is not safe to repeat blind (each call makes something new, e.g. a task
/// definition revision or a policy version). If its answer is lost, the error surfaces
/// (retryable) and the next attempt observes what the write did before writing again.
/// Use as `.customize().config_override(single_attempt!(aws_sdk_ecs))`.
#[macro_export]
macro_rules! single_attempt {
    ($sdk:ident) => {
        $sdk::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
    };
}

/// A client of `$sdk` over `$config` that counts its requests in the factory's metrics
/// and draws them from the call budget of `$account` (when there is one).
macro_rules! own_client {
    ($factory:expr, $config:expr, $sdk:ident, $account:expr) => {{
        let mut builder = $sdk::config::Builder::from(&$config)
            .interceptor(CountRequests($factory.metrics.clone()))
            .interceptor(endpoint::NameUnresolvedHost);
        if let Some(budgets) = &$factory.budgets {
            builder = builder.interceptor(budget::Budgeted {
                budgets: budgets.clone(),
                account: $account,
                region: $config.region().map(|r| r.to_string()).unwrap_or_default(),
            });
        }
        $sdk::Client::from_conf(builder.build())
    }};
}

/// Builds and caches AWS clients. Cloning shares the cache and the connection pool.
#[derive(Clone)]
pub struct AwsFactory {
    base: SdkConfig,
    metrics: Metrics,
    clients: Arc<Mutex<HashMap<ClientKey, AccountClients>>>,
    budgets: Option<Arc<budget::Budgets>>,
}

impl fmt::Debug for AwsFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsFactory")
            .field("region", &self.base.region())
            .finish_non_exhaustive()
    }
}

impl AwsFactory {
    /// Loads the SDK configuration once (credentials chain, region, endpoint, retries).
    pub async fn load(settings: &AwsSettings, metrics: Metrics) -> Self {
        let mut loader = sdk_loader();
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let factory = Self::from_config(loader.load().await, metrics);
        match settings.budget {
            Some(budget) => factory.with_budget(budget),
            None => factory,
        }
    }

    /// Every request of every client made from now on waits for the call budget.
    pub fn with_budget(mut self, settings: budget::BudgetSettings) -> Self {
        let budgets = budget::Budgets::new(settings, self.metrics.clone());
        if let Some(inner) = self.base.http_client() {
            self.base = self
                .base
                .to_builder()
                .http_client(budget::BudgetedHttpClient {
                    inner,
                    budgets: budgets.clone(),
                })
                .build();
        }
        self.budgets = Some(budgets);
        self
    }

    /// The call budget, when there is one (a sharded replica sets its share on it).
    pub fn budgets(&self) -> Option<&Arc<budget::Budgets>> {
        self.budgets.as_ref()
    }

    /// A factory over an SDK configuration built elsewhere (tests, embedding).
    pub fn from_config(base: SdkConfig, metrics: Metrics) -> Self {
        AwsFactory {
            base,
            metrics,
            clients: Arc::default(),
            budgets: None,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The region of objects without `spec.region`.
    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    /// An SQS client for the operator's own event queues in `region` (the operator's
    /// credentials, the shared connection pool, requests counted).
    pub fn sqs(&self, region: &str) -> aws_sdk_sqs::Client {
        let config = self.regional(region);
        own_client!(self, config, aws_sdk_sqs, OPERATOR.to_string())
    }

    /// An EventBridge client in `region`, as [`AwsFactory::sqs`].
    pub fn eventbridge(&self, region: &str) -> aws_sdk_eventbridge::Client {
        let config = self.regional(region);
        own_client!(self, config, aws_sdk_eventbridge, OPERATOR.to_string())
    }

    fn regional(&self, region: &str) -> SdkConfig {
        self.base
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// The clients for `target`, built on first use and cached for the process.
    pub async fn clients(&self, target: &AwsTarget) -> Result<AccountClients> {
        let region = target
            .region
            .clone()
            .or_else(|| self.base.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                Error::Config("no AWS region: set spec.region, --region or AWS_REGION".to_string())
            })?;
        let key = ClientKey {
            region: region.clone(),
            role: target.assume_role_arn.clone(),
            external_id_digest: target
                .assume_role_external_id
                .as_ref()
                .map(|id| Sha256::digest(id.0.as_bytes()).into()),
            session: target
                .assume_role_arn
                .as_ref()
                .map(|_| session_name(target.namespace.as_deref())),
        };
        if let Some(clients) = self.clients.lock().expect("client cache lock").get(&key) {
            return Ok(clients.clone());
        }
        let config = self.config_for(&region, target).await;
        // Every client of one (region, role) shares the configuration (and so the
        // connection pool), and counts its requests.
        // The budget is per account: an assumed role's, else the operator's own.
        let account = target
            .assume_role_arn
            .clone()
            .unwrap_or_else(|| OPERATOR.to_string());
        let clients = AccountClients {
            region,
            ecs: own_client!(self, config, aws_sdk_ecs, account.clone()),
            iam: own_client!(self, config, aws_sdk_iam, account.clone()),
            sts: own_client!(self, config, aws_sdk_sts, account.clone()),
            autoscaling: own_client!(self, config, aws_sdk_autoscaling, account.clone()),
            ec2: own_client!(self, config, aws_sdk_ec2, account.clone()),
            cloudwatch: own_client!(self, config, aws_sdk_cloudwatch, account.clone()),
            sns: own_client!(self, config, aws_sdk_sns, account),
            account_id: Arc::default(),
        };
        self.clients
            .lock()
            .expect("client cache lock")
            .insert(key, clients.clone());
        Ok(clients)
    }

    /// The base configuration re-targeted at a region and, when asked, an assumed role.
    /// The HTTP client (and so the connection pool) is the base configuration's.
    async fn config_for(&self, region: &str, target: &AwsTarget) -> SdkConfig {
        let mut builder = self
            .base
            .to_builder()
            .region(Region::new(region.to_string()));
        if let Some(role) = &target.assume_role_arn {
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                .session_name(session_name(target.namespace.as_deref()))
                .region(Region::new(region.to_string()))
                .configure(&self.base);
            if let Some(external_id) = &target.assume_role_external_id {
                provider = provider.external_id(external_id.0.clone());
            }
            builder = builder.credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    provider.build().await,
                ),
            );
        }
        builder.build()
    }
}

/// The call budget's account of requests made with the operator's own credentials.
const OPERATOR: &str = "operator";

/// The error codes AWS's services use for request-rate refusals (JSON `__type`, XML
/// `<Code>`), as the SDK's own retry classifier knows them.
const THROTTLING_CODES: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// Whether an HTTP answer is AWS refusing the request rate: 429, or an error answer naming
/// one of [`THROTTLING_CODES`] (in a header, or in its body, buffered by then, whatever the
/// protocol: JSON, XML or CBOR).
pub(crate) fn is_throttled(response: &aws_smithy_runtime_api::http::Response) -> bool {
    let status = response.status().as_u16();
    if status == 429 {
        return true;
    }
    if status < 400 {
        return false;
    }
    let header = response
        .headers()
        .get("x-amzn-ErrorType")
        .unwrap_or_default();
    let body = response.body().bytes().unwrap_or_default();
    THROTTLING_CODES.iter().any(|code| {
        header.starts_with(code)
            || body
                .windows(code.len())
                .any(|window| window == code.as_bytes())
    })
}

/// Counts every AWS request attempt as `ecsfleet_aws_requests_total{service,operation,outcome}`.
#[derive(Debug)]
struct CountRequests(Metrics);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let outcome = match context.output_or_error() {
                Some(Ok(_)) => AwsOutcome::Success,
                _ if context.response().is_some_and(is_throttled) => AwsOutcome::Throttled,
                _ => AwsOutcome::Error,
            };
            self.0
                .count_aws_request(metadata.service(), metadata.name(), outcome);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_name_carries_the_namespace_within_what_sts_allows() {
        assert_eq!(session_name(None), "ecsfleet");
        assert_eq!(session_name(Some("team-a")), "ecsfleet@team-a");
        let long = "n".repeat(63);
        let name = session_name(Some(&long));
        assert_eq!(name.len(), 64);
        assert!(name.starts_with("ecsfleet@nnn"));
    }

    #[tokio::test]
    async fn every_client_shares_the_configurations_http_client() {
        let base = sdk_loader().region(Region::new("eu-west-1")).load().await;
        assert!(
            base.http_client().is_some(),
            "without one, each service client builds its own"
        );
        let factory = AwsFactory::from_config(base, Metrics::default());
        let regional = factory.config_for("us-east-2", &AwsTarget::default()).await;
        assert!(regional.http_client().is_some(), "kept per region");
    }
}
