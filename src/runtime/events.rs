//! The AWS event source: EventBridge events delivered to SQS queues, long-polled, each
//! turned into a "look again" for the objects it concerns. The resync stays the safety
//! net for an event that is lost.
//!
//! What each event means (`source` / `detail-type`):
//! - `aws.ecs` / `ECS Container Instance State Change`: the cluster's hosts changed (a
//!   join, a drain, a deregistration, an agent disconnecting): its cached view is dropped
//!   and its DaemonServices reconciled.
//! - `aws.ecs` / `ECS Service Action`, `ECS Deployment State Change`: the service's
//!   DaemonService (its rollout status).
//! - `aws.autoscaling` / `EC2 Instance Launch|Terminate Successful|Unsuccessful`,
//!   `EC2 Auto Scaling Instance Refresh …`: the group's ScalingGroup (and through
//!   `ecsCluster` its cluster's DaemonServices, when the instances it sees changed).
//! - `AWS API Call via CloudTrail` for writes to what ecsfleet owns: the owner, so that a
//!   hand-made change is repaired in seconds. Calls ecsfleet made itself (its User-Agent
//!   carries `app/ecsfleet`) are ignored.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;
use tracing::{info, warn};

use super::hosts::{ClusterChange, HostsChanged};
use super::inbox::{Outbox, Signal};
use super::triggers::Trigger;
use crate::aws::APP_NAME;
use crate::metrics::Metrics;

/// The EventBridge rules that deliver the events [`parse`] reads, as (name suffix, event
/// pattern): `ecsfleet events install` creates them, `deploy/events/rules.json` has them
/// for teams that manage AWS elsewhere.
pub fn rules() -> Vec<(&'static str, Value)> {
    vec![
        (
            "ecs",
            serde_json::json!({
                "source": ["aws.ecs"],
                "detail-type": [
                    "ECS Container Instance State Change",
                    "ECS Service Action",
                    "ECS Deployment State Change"
                ]
            }),
        ),
        (
            "autoscaling",
            serde_json::json!({
                "source": ["aws.autoscaling"],
                "detail-type": [
                    {"prefix": "EC2 Instance Launch "},
                    {"prefix": "EC2 Instance Terminate "},
                    {"prefix": "EC2 Auto Scaling Instance Refresh"}
                ]
            }),
        ),
        (
            "cloudtrail",
            serde_json::json!({
                "source": ["aws.iam", "aws.autoscaling", "aws.cloudwatch", "aws.ecs"],
                "detail-type": ["AWS API Call via CloudTrail"],
                "detail": {
                    "eventSource": [
                        "iam.amazonaws.com",
                        "autoscaling.amazonaws.com",
                        "monitoring.amazonaws.com",
                        "ecs.amazonaws.com"
                    ],
                    "eventName": CLOUDTRAIL_CALLS
                }
            }),
        ),
    ]
}

/// The write calls whose CloudTrail records make their owner look again.
pub const CLOUDTRAIL_CALLS: &[&str] = &[
    // IAM
    "UpdateAssumeRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "UpdateRole",
    "UpdateRoleDescription",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "TagRole",
    "UntagRole",
    "DeleteRole",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "DeletePolicyVersion",
    "DeletePolicy",
    // Auto Scaling
    "UpdateAutoScalingGroup",
    "SetDesiredCapacity",
    "DeleteAutoScalingGroup",
    "PutScalingPolicy",
    "PutLifecycleHook",
    "DeleteLifecycleHook",
    "PutNotificationConfiguration",
    "DeleteNotificationConfiguration",
    // CloudWatch
    "PutMetricAlarm",
    "DeleteAlarms",
    // ECS
    "UpdateService",
    "DeleteService",
    // Auto Scaling's DeletePolicy has IAM's name: listed once, above.
];

/// What one event asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// A cluster's hosts changed.
    Hosts(ClusterChange),
    /// Objects to reconcile.
    Reconcile(Trigger),
    /// Nothing of ours (another source or call, or one of ecsfleet's own writes).
    Ignore(&'static str),
}

/// Why a message is not an EventBridge event.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// Reads one SQS message body. Pure.
pub fn parse(body: &str) -> Result<Reaction, Malformed> {
    let event: Value =
        serde_json::from_str(body).map_err(|e| Malformed(format!("not JSON: {e}")))?;
    let text = |value: &Value, field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Malformed(format!("no {field}")))
    };
    let source = text(&event, "source")?;
    let detail_type = text(&event, "detail-type")?;
    let region = text(&event, "region")?;
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| Malformed("no detail object".into()))?;
    let resources: Vec<&str> = event
        .get("resources")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if detail_type == "AWS API Call via CloudTrail" {
        return cloudtrail(detail, &region);
    }
    Ok(match (source.as_str(), detail_type.as_str()) {
        ("aws.ecs", "ECS Container Instance State Change") => {
            let cluster = text(detail, "clusterArn")?;
            Reaction::Hosts(ClusterChange {
                region,
                cluster: last_segment(&cluster).to_string(),
            })
        }
        ("aws.ecs", "ECS Service Action" | "ECS Deployment State Change") => {
            // arn:aws:ecs:<region>:<account>:service/<cluster>/<service>
            let service_arn = resources
                .iter()
                .find(|arn| arn.contains(":service/"))
                .ok_or_else(|| Malformed("no service ARN in resources".into()))?;
            let path: Vec<&str> = service_arn
                .split_once(":service/")
                .map(|(_, path)| path.split('/').collect())
                .unwrap_or_default();
            match path.as_slice() {
                [cluster, service] => Reaction::Reconcile(Trigger::Service {
                    region,
                    cluster: cluster.to_string(),
                    service: service.to_string(),
                }),
                // The old ARN format names no cluster: every cluster's service of that
                // name would have to look; rare enough to leave to the resync.
                _ => Reaction::Ignore("a service ARN without its cluster"),
            }
        }
        ("aws.autoscaling", kind)
            if kind.starts_with("EC2 Instance ")
                || kind.starts_with("EC2 Auto Scaling Instance Refresh") =>
        {
            Reaction::Reconcile(Trigger::Group {
                region,
                group: text(detail, "AutoScalingGroupName")?,
            })
        }
        _ => Reaction::Ignore("not an event ecsfleet listens for"),
    })
}

fn last_segment(arn_or_name: &str) -> &str {
    arn_or_name.rsplit('/').next().unwrap_or(arn_or_name)
}

/// A CloudTrail record of an AWS API call.
fn cloudtrail(detail: &Value, region: &str) -> Result<Reaction, Malformed> {
    let user_agent = detail
        .get("userAgent")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if user_agent
        .split_whitespace()
        .any(|token| token == format!("app/{APP_NAME}"))
    {
        return Ok(Reaction::Ignore("a write ecsfleet made"));
    }
    let name = detail
        .get("eventName")
        .and_then(Value::as_str)
        .ok_or_else(|| Malformed("no eventName".into()))?;
    let source = detail
        .get("eventSource")
        .and_then(Value::as_str)
        .ok_or_else(|| Malformed("no eventSource".into()))?;
    let region = detail
        .get("awsRegion")
        .and_then(Value::as_str)
        .unwrap_or(region)
        .to_string();
    let empty = Value::Object(Default::default());
    let parameters = detail
        .get("requestParameters")
        .filter(|p| p.is_object())
        .unwrap_or(&empty);
    let parameter = |field: &str| {
        parameters
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Malformed(format!("{name} without requestParameters.{field}")))
    };
    Ok(match (source, name) {
        (
            "iam.amazonaws.com",
            "UpdateAssumeRolePolicy"
            | "AttachRolePolicy"
            | "DetachRolePolicy"
            | "PutRolePolicy"
            | "DeleteRolePolicy"
            | "UpdateRole"
            | "UpdateRoleDescription"
            | "PutRolePermissionsBoundary"
            | "DeleteRolePermissionsBoundary"
            | "TagRole"
            | "UntagRole"
            | "DeleteRole",
        ) => Reaction::Reconcile(Trigger::Role {
            role: parameter("roleName")?,
        }),
        (
            "iam.amazonaws.com",
            "CreatePolicyVersion"
            | "SetDefaultPolicyVersion"
            | "DeletePolicyVersion"
            | "DeletePolicy",
        ) => Reaction::Reconcile(Trigger::Policy {
            arn: parameter("policyArn")?,
        }),
        (
            "autoscaling.amazonaws.com",
            "UpdateAutoScalingGroup"
            | "SetDesiredCapacity"
            | "DeleteAutoScalingGroup"
            | "PutScalingPolicy"
            | "DeletePolicy"
            | "PutLifecycleHook"
            | "DeleteLifecycleHook"
            | "PutNotificationConfiguration"
            | "DeleteNotificationConfiguration",
        ) => Reaction::Reconcile(Trigger::Group {
            region,
            group: parameter("autoScalingGroupName")?,
        }),
        ("monitoring.amazonaws.com", "PutMetricAlarm") => Reaction::Reconcile(Trigger::Alarms {
            region,
            names: vec![parameter("alarmName")?],
        }),
        ("monitoring.amazonaws.com", "DeleteAlarms") => Reaction::Reconcile(Trigger::Alarms {
            region,
            names: parameters
                .get("alarmNames")
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }),
        ("ecs.amazonaws.com", "UpdateService" | "DeleteService") => {
            let cluster = parameters
                .get("cluster")
                .and_then(Value::as_str)
                .unwrap_or("default");
            Reaction::Reconcile(Trigger::Service {
                region,
                cluster: last_segment(cluster).to_string(),
                service: last_segment(&parameter("service")?).to_string(),
            })
        }
        _ => Reaction::Ignore("not a call to what ecsfleet owns"),
    })
}

/// Where the reactions go: cluster changes to the hosts signal, triggers to the
/// controllers.
#[derive(Clone)]
pub struct Dispatch {
    pub hosts: std::sync::Arc<HostsChanged>,
    pub triggers: broadcast::Sender<Trigger>,
    /// With sharding: the other replicas, which hold the other shards' objects.
    pub pass_on: Option<Outbox>,
}

impl Dispatch {
    /// Queues what `reaction` asks for; returns the metric's result label.
    pub fn send(&self, reaction: Reaction) -> &'static str {
        match reaction {
            Reaction::Hosts(change) => {
                if let Some(outbox) = &self.pass_on {
                    outbox.send(Signal::Hosts(change.clone()));
                }
                self.hosts.announce(change);
                "triggered"
            }
            Reaction::Reconcile(trigger) => {
                if let Some(outbox) = &self.pass_on {
                    outbox.send(Signal::Trigger(trigger.clone()));
                }
                // No receiver (a kind not running) is no error.
                let _ = self.triggers.send(trigger);
                "triggered"
            }
            Reaction::Ignore(_) => "ignored",
        }
    }
}

/// One queue to consume: its URL, and the region of the SQS client that reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    pub region: String,
    pub url: String,
}

impl Queue {
    /// `[REGION=]URL`; without a region, the one in an `sqs.<region>.amazonaws.com` URL,
    /// or else `default_region`.
    pub fn parse(text: &str, default_region: Option<&str>) -> Result<Queue, String> {
        let (region, url) = match text.split_once('=') {
            Some((region, url)) if !region.contains('/') => (Some(region.to_string()), url),
            _ => (None, text),
        };
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(format!("{text:?}: a queue URL starts with https://"));
        }
        let from_host = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|host| host.strip_prefix("sqs."))
            .and_then(|host| host.split('.').next())
            .map(str::to_string);
        let region = region
            .or(from_host)
            .or_else(|| default_region.map(str::to_string))
            .ok_or_else(|| format!("{text:?}: name the queue's region as REGION=URL"))?;
        Ok(Queue {
            region,
            url: url.to_string(),
        })
    }
}

/// Long-polls `queue` until `shutdown` turns true. Each message is dispatched, then
/// deleted (a malformed or foreign one too: counted, logged once, deleted).
pub async fn consume(
    sqs: aws_sdk_sqs::Client,
    queue: Queue,
    dispatch: Dispatch,
    metrics: Metrics,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    info!(queue = %queue.url, "consuming AWS events");
    let mut failures = 0u32;
    let mut malformed_logged = false;
    loop {
        let receive = sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(20)
            .send();
        let answer = tokio::select! {
            answer = receive => answer,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let messages = match answer {
            Ok(answer) => {
                failures = 0;
                answer.messages.unwrap_or_default()
            }
            Err(error) => {
                failures += 1;
                let backoff = Duration::from_secs(1 << failures.min(5));
                warn!(queue = %queue.url, error = %crate::redact::scrub(&aws_sdk_sqs::error::DisplayErrorContext(&error).to_string()), ?backoff, "receiving AWS events failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        };
        let mut done = Vec::new();
        for message in messages {
            let result = match parse(message.body().unwrap_or_default()) {
                Ok(reaction) => {
                    tracing::debug!(?reaction, "took an AWS event off the queue");
                    dispatch.send(reaction)
                }
                Err(malformed) => {
                    if !malformed_logged {
                        warn!(queue = %queue.url, reason = %malformed, "a message that is not an EventBridge event: deleted (further ones are only counted)");
                        malformed_logged = true;
                    }
                    "malformed"
                }
            };
            metrics.count_event(result);
            if let Some(handle) = message.receipt_handle() {
                done.push(handle.to_string());
            }
        }
        delete(&sqs, &queue, done).await;
    }
}

/// Deletes handled messages, ten at a time; a failure leaves them to come back after
/// their visibility timeout, which is harmless (a trigger means "look again").
async fn delete(sqs: &aws_sdk_sqs::Client, queue: &Queue, handles: Vec<String>) {
    for (batch, chunk) in handles.chunks(10).enumerate() {
        let entries = chunk.iter().enumerate().map(|(i, handle)| {
            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(format!("{batch}-{i}"))
                .receipt_handle(handle)
                .build()
                .expect("id and receipt handle are set")
        });
        if let Err(error) = sqs
            .delete_message_batch()
            .queue_url(&queue.url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
        {
            warn!(queue = %queue.url, error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "deleting handled AWS events failed; they will come back");
        }
    }
}

#[cfg(test)]
mod tests;
