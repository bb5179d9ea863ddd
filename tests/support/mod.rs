//! Test support: the AWS emulator (moto, started per test over HTTP) and an ECS cluster
//! whose hosts join, drain and leave the way EC2 instances running the ECS agent do.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_ecs::types::{Attribute, ContainerInstanceStatus};
use ecsfleet::Error;
use ecsfleet::aws::AwsFactory;
use ecsfleet::metrics::Metrics;
use ecsfleet::runtime::report::next_status;
use ecsfleet::runtime::{Env, Managed, Pipeline};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub mod control_plane;
pub mod elf;
pub mod faults;

pub const REGION: &str = "eu-west-1";

/// `loader` pointed at `endpoint` in [`REGION`], with the tests' credentials.
fn with_test_identity(
    loader: aws_config::ConfigLoader,
    endpoint: &str,
) -> aws_config::ConfigLoader {
    loader
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "ecsfleet-tests",
        ))
}

/// An SDK configuration with ecsfleet's own retry and timeout settings
/// ([`ecsfleet::aws::sdk_loader`]), pointed at `endpoint` with the tests' credentials.
pub async fn ecsfleet_sdk_config(endpoint: &str) -> SdkConfig {
    with_test_identity(ecsfleet::aws::sdk_loader(), endpoint)
        .load()
        .await
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the emulator's virtual environment, which `scripts/test` creates.
pub fn emulator_python() -> PathBuf {
    let python = std::env::var_os("ECSFLEET_EMULATOR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/emulator/bin/python"));
    assert!(
        python.exists(),
        "the AWS emulator is not installed at {}: run scripts/test (or scripts/emulator-venv) first",
        python.display()
    );
    python
}

/// A moto server on a free loopback port, stopped when dropped.
pub struct Emulator {
    child: Option<Child>,
    pub endpoint: String,
}

impl Emulator {
    /// Starts the emulator and waits until it answers; panics (never skips) if it cannot.
    pub fn start() -> Emulator {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(emulator_python())
            .arg(repo_root().join("tests/emulator/ecsfleet_moto.py"))
            .args(["--port", &port.to_string()])
            // AWS managed policies (e.g. SecurityAudit) exist only when loaded.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the AWS emulator");
        let mut emulator = Emulator {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(status))) = emulator.child.as_mut().map(|c| c.try_wait()) {
                panic!("the AWS emulator exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the AWS emulator did not answer within 60 s on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    /// An emulator somebody else started (scripts/demo); not stopped when dropped.
    pub fn attach(endpoint: &str) -> Emulator {
        Emulator {
            child: None,
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }

    /// An SDK configuration pointed at the emulator with test credentials.
    /// Runs `binary events install` for `region` against this emulator; returns the
    /// queue URL it prints for `--events-queue-url`.
    pub fn events_queue(&self, binary: &str, region: &str) -> String {
        let output = std::process::Command::new(binary)
            .args(["events", "install", "--region", region])
            .envs(self.process_env())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(output.status.success(), "{text}{output:?}");
        text.lines()
            .find_map(|line| line.strip_prefix("run the controller with: --events-queue-url "))
            .expect("the queue URL")
            .to_string()
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        with_test_identity(
            aws_config::defaults(BehaviorVersion::latest()),
            &self.endpoint,
        )
        .load()
        .await
    }

    /// The environment a spawned `ecsfleet` process needs to reach the emulator.
    pub fn process_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
    }

    /// One EC2 Query API call (the ECS agent's host must exist in EC2 before it can
    /// register). Returns the response body.
    pub async fn ec2_query(&self, params: &[(&str, &str)]) -> String {
        let body: String = params
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
            .collect::<Vec<_>>()
            .join("&");
        let headers = format!(
            "Content-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n"
        );
        let response = self.http("POST", "/", &headers, &body).await;
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "EC2 call failed: {response}"
        );
        response
    }

    /// A call to the emulator's control endpoints (`/_ecsfleet/...`, see
    /// tests/emulator/ecsfleet_capacity.py): POST with a JSON body, or GET without one.
    pub async fn control(&self, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let response = match body {
            Some(body) => {
                self.http(
                    "POST",
                    path,
                    "Content-Type: application/json\r\n",
                    &body.to_string(),
                )
                .await
            }
            None => self.http("GET", path, "", "").await,
        };
        let (head, json) = response.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "{path} failed: {response}"
        );
        serde_json::from_str(json).expect("a JSON answer")
    }

    async fn http(&self, method: &str, path: &str, headers: &str, body: &str) -> String {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("emulator reachable");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{headers}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response read");
        response
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    Linux,
    Windows,
}

/// An ECS cluster in the emulator, with hosts that join, drain and leave.
pub struct Cluster {
    pub name: String,
    pub ecs: aws_sdk_ecs::Client,
}

impl Cluster {
    pub async fn create(emulator: &Emulator, name: &str) -> Cluster {
        let cluster = Cluster::attach(emulator, name).await;
        cluster
            .ecs
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .expect("cluster created");
        cluster
    }

    /// A cluster that already exists.
    pub async fn attach(emulator: &Emulator, name: &str) -> Cluster {
        let ecs = aws_sdk_ecs::Client::new(&emulator.sdk_config().await);
        Cluster {
            name: name.to_string(),
            ecs,
        }
    }

    /// Launches an Amazon Linux EC2 instance and registers it as a container instance,
    /// as the ECS agent does at boot. Returns the container instance ARN.
    pub async fn add_instance(&self, emulator: &Emulator) -> String {
        self.add_host(emulator, Os::Linux).await
    }

    /// Like `add_instance`, from a Linux or a Windows AMI of the emulator's catalogue
    /// (ECS derives the `ecs.os-type` attribute from it).
    pub async fn add_host(&self, emulator: &Emulator, os: Os) -> String {
        let image = match os {
            Os::Linux => "ami-760aaa0f",
            Os::Windows => "ami-12c6146b",
        };
        let response = emulator
            .ec2_query(&[
                ("Action", "RunInstances"),
                ("Version", "2016-11-15"),
                ("ImageId", image),
                ("InstanceType", "t3.medium"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
            ])
            .await;
        let instance_id = response
            .split("<instanceId>")
            .nth(1)
            .and_then(|rest| rest.split("</instanceId>").next())
            .expect("RunInstances returned an instance ID")
            .to_string();
        let document = format!(r#"{{"instanceId": "{instance_id}", "region": "{REGION}"}}"#);
        self.ecs
            .register_container_instance()
            .cluster(&self.name)
            .instance_identity_document(document)
            .send()
            .await
            .expect("container instance registered")
            .container_instance()
            .and_then(|i| i.container_instance_arn())
            .expect("container instance ARN")
            .to_string()
    }

    async fn set_state(&self, arn: &str, status: ContainerInstanceStatus) {
        self.ecs
            .update_container_instances_state()
            .cluster(&self.name)
            .container_instances(arn)
            .status(status)
            .send()
            .await
            .expect("container instance state updated");
    }

    pub async fn drain(&self, arn: &str) {
        self.set_state(arn, ContainerInstanceStatus::Draining).await;
    }

    pub async fn activate(&self, arn: &str) {
        self.set_state(arn, ContainerInstanceStatus::Active).await;
    }

    /// Puts a custom attribute on one container instance.
    pub async fn set_attribute(&self, arn: &str, name: &str, value: &str) {
        self.ecs
            .put_attributes()
            .cluster(&self.name)
            .attributes(
                Attribute::builder()
                    .name(name)
                    .value(value)
                    .target_id(arn)
                    .build()
                    .expect("attribute"),
            )
            .send()
            .await
            .expect("attribute put");
    }

    /// The live service, as ECS describes it.
    pub async fn service(&self, name: &str) -> Option<aws_sdk_ecs::types::Service> {
        self.ecs
            .describe_services()
            .cluster(&self.name)
            .services(name)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .expect("services described")
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
            .cloned()
    }

    /// Revisions of a task definition family, oldest first.
    /// Registers a revision of `family` running `image` as somebody would by hand (no
    /// digest tag). Returns its ARN.
    pub async fn register_by_hand(&self, family: &str, image: &str) -> String {
        self.ecs
            .register_task_definition()
            .family(family)
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("agent")
                    .image(image)
                    .memory(128)
                    .build(),
            )
            .send()
            .await
            .expect("task definition registered")
            .task_definition()
            .and_then(|d| d.task_definition_arn())
            .expect("registered revision's ARN")
            .to_string()
    }

    /// Points the service `service` at `task_definition`, as somebody would by hand.
    pub async fn point_by_hand(&self, service: &str, task_definition: &str) {
        self.ecs
            .update_service()
            .cluster(&self.name)
            .service(service)
            .task_definition(task_definition)
            .send()
            .await
            .expect("service updated");
    }

    pub async fn revisions(&self, family: &str) -> Vec<String> {
        self.ecs
            .list_task_definitions()
            .family_prefix(family)
            .send()
            .await
            .expect("task definitions listed")
            .task_definition_arns()
            .to_vec()
    }
}

/// An environment whose AWS calls go to `emulator`, with the Secrets the CLI would read
/// from files.
pub async fn env(emulator: &Emulator, secrets: ecsfleet::runtime::secrets::Secrets) -> Env {
    let aws = AwsFactory::from_config(emulator.sdk_config().await, Metrics::default());
    Env::new(aws, secrets)
}

/// An environment whose AWS endpoint is a closed port: anything that reached AWS would be
/// counted as a request (and fail).
pub async fn offline_env(secrets: ecsfleet::runtime::secrets::Secrets) -> Env {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(Credentials::new("t", "t", None, None, "tests"))
        .load()
        .await;
    Env::new(AwsFactory::from_config(config, Metrics::default()), secrets)
}

/// An environment with no Secrets.
pub async fn plain_env(emulator: &Emulator) -> Env {
    env(
        emulator,
        ecsfleet::runtime::secrets::Secrets::Files(BTreeMap::new()),
    )
    .await
}

/// Syncs `obj` and records the status exactly as the controller would (the same report
/// step), so the next sync knows what the last one set. Returns the applied actions.
pub async fn sync<K: Managed>(obj: &mut K, pipeline: &Pipeline<K>) -> Result<Vec<String>, Error> {
    let result = pipeline.sync(obj).await;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    if let Some(status) = next_status(obj, &result, &now) {
        let mut value = serde_json::to_value(&*obj).expect("the object serializes");
        value["status"] = serde_json::to_value(status).expect("the status serializes");
        *obj = serde_json::from_value(value).expect("the object decodes with its status");
    }
    Ok(result?
        .applied
        .into_iter()
        .map(|change| change.action)
        .collect())
}

/// One more sync of an object in sync: it plans nothing and writes nothing.
pub async fn assert_in_sync<K: Managed>(obj: &mut K, pipeline: &Pipeline<K>) {
    let before = writes(&pipeline.env);
    assert_eq!(sync(obj, pipeline).await.unwrap(), Vec::<String>::new());
    assert_eq!(
        writes(&pipeline.env),
        before,
        "no write on a resync in sync"
    );
}

/// AWS calls of `operation` made so far (answered or not).
pub fn calls(env: &Env, operation: &str) -> u64 {
    env.metrics()
        .aws_requests()
        .get(operation)
        .copied()
        .unwrap_or(0)
}

/// Successful AWS calls other than reads (`Describe*`, `Get*`, `List*`), by operation.
pub fn writes(env: &Env) -> BTreeMap<String, u64> {
    env.metrics()
        .successful_aws_requests()
        .into_iter()
        .filter(|(op, _)| {
            !["Get", "List", "Describe"]
                .iter()
                .any(|read| op.starts_with(read))
        })
        .collect()
}

/// A cluster whose hosts come from an Auto Scaling group capacity provider with managed
/// scaling at `target` % and managed termination protection.
pub async fn scaled_cluster(
    emulator: &Emulator,
    name: &str,
    size: i32,
    max: i32,
    target: i32,
) -> Cluster {
    let config = emulator.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let autoscaling = aws_sdk_autoscaling::Client::new(&config);
    let template = format!("{name}-hosts");
    ec2.create_launch_template()
        .launch_template_name(&template)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-760aaa0f")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Medium)
                .build(),
        )
        .send()
        .await
        .expect("launch template created");
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(&template)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_name(&template)
                .build(),
        )
        .min_size(1)
        .max_size(max)
        .desired_capacity(size)
        .availability_zones(format!("{REGION}a"))
        .new_instances_protected_from_scale_in(true)
        .send()
        .await
        .expect("group created");
    let group_arn = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&template)
        .send()
        .await
        .expect("group described")
        .auto_scaling_groups()[0]
        .auto_scaling_group_arn()
        .expect("group ARN")
        .to_string();
    let cluster = Cluster::attach(emulator, name).await;
    cluster
        .ecs
        .create_capacity_provider()
        .name(&template)
        .auto_scaling_group_provider(
            aws_sdk_ecs::types::AutoScalingGroupProvider::builder()
                .auto_scaling_group_arn(group_arn)
                .managed_scaling(
                    aws_sdk_ecs::types::ManagedScaling::builder()
                        .status(aws_sdk_ecs::types::ManagedScalingStatus::Enabled)
                        .target_capacity(target)
                        .build(),
                )
                .managed_termination_protection(
                    aws_sdk_ecs::types::ManagedTerminationProtection::Enabled,
                )
                .build()
                .expect("provider"),
        )
        .send()
        .await
        .expect("capacity provider created");
    cluster
        .ecs
        .create_cluster()
        .cluster_name(name)
        .capacity_providers(&template)
        .default_capacity_provider_strategy(
            aws_sdk_ecs::types::CapacityProviderStrategyItem::builder()
                .capacity_provider(&template)
                .weight(1)
                .build()
                .expect("strategy"),
        )
        .send()
        .await
        .expect("cluster created");
    // The group's first instances boot and join the cluster.
    emulator
        .control(
            "/_ecsfleet/join",
            Some(serde_json::json!({"region": REGION, "cluster": name})),
        )
        .await;
    cluster
}

/// Gives `cluster` an ECS Managed Instances capacity provider (`<cluster>-mi`) with
/// `hosts` instances (launched by the emulator, as ECS launches them for tasks).
pub async fn managed_instances(emulator: &Emulator, cluster: &Cluster, hosts: usize) {
    use aws_sdk_ecs::types::{
        CreateManagedInstancesProviderConfiguration, InstanceLaunchTemplate,
        ManagedInstancesNetworkConfiguration,
    };
    let provider = format!("{}-mi", cluster.name);
    cluster
        .ecs
        .create_capacity_provider()
        .name(&provider)
        .cluster(&cluster.name)
        .managed_instances_provider(
            CreateManagedInstancesProviderConfiguration::builder()
                .infrastructure_role_arn("arn:aws:iam::123456789012:role/ecsInfrastructureRole")
                .instance_launch_template(
                    InstanceLaunchTemplate::builder()
                        .ec2_instance_profile_arn(
                            "arn:aws:iam::123456789012:instance-profile/ecsInstanceRole",
                        )
                        .network_configuration(
                            ManagedInstancesNetworkConfiguration::builder()
                                .subnets("subnet-0a1b2c3d")
                                .build(),
                        )
                        .build()
                        .expect("launch template"),
                )
                .build()
                .expect("provider"),
        )
        .send()
        .await
        .expect("Managed Instances provider created");
    emulator
        .control(
            "/_ecsfleet/managed-instances",
            Some(
                serde_json::json!({"region": REGION, "cluster": cluster.name,
                                    "capacityProvider": provider, "count": hosts}),
            ),
        )
        .await;
}

/// The refusal of `object`, read as the CLI reads a manifest (schema checked, decoded)
/// and validated for a plan, or None if it is accepted.
pub async fn refusal<K>(object: serde_json::Value, env: &Env) -> Option<String>
where
    K: Managed + serde::de::DeserializeOwned + kube::CustomResourceExt,
{
    let obj: K = match ecsfleet::cli::files::decode(object) {
        Ok(obj) => obj,
        Err(error) => return Some(error.to_string()),
    };
    obj.desired(env, ecsfleet::runtime::Intent::Plan)
        .await
        .err()
        .map(|e| e.to_string())
}

/// The permissions boundary IAM has on the role `name`, if any.
pub async fn permissions_boundary(iam: &aws_sdk_iam::Client, name: &str) -> Option<String> {
    let live = iam.get_role().role_name(name).send().await.unwrap();
    live.role()
        .and_then(|r| r.permissions_boundary())
        .and_then(|b| b.permissions_boundary_arn())
        .map(str::to_string)
}
