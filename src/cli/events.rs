//! `ecsfleet events install|uninstall|rules`: the SQS queue and EventBridge rules that
//! feed the controller's event source (`run --events-queue-url`). Every step is an
//! upsert or looks first, so running `install` again (or after a lost answer) changes
//! nothing and makes nothing twice.

use std::process::ExitCode;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{Value, json};

use super::args::{EventsArgs, EventsCommand};
use crate::aws::AwsFactory;
use crate::metrics::Metrics;
use crate::runtime::events::rules;
use crate::{Error, Result};

/// The tag on everything `install` creates.
const TAG: (&str, &str) = ("ecsfleet.dev/managed-by", "ecsfleet-events");

pub async fn run(args: &EventsArgs) -> Result<ExitCode> {
    let (target, install_it) = match &args.command {
        EventsCommand::Rules => {
            let document: Vec<Value> = rules()
                .into_iter()
                .map(|(suffix, pattern)| {
                    json!({"name": rule_name("<queue>", suffix), "eventPattern": pattern})
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&document).expect("rules serialize")
            );
            return Ok(ExitCode::SUCCESS);
        }
        EventsCommand::Install(target) => (target, true),
        EventsCommand::Uninstall(target) => (target, false),
    };
    let factory = AwsFactory::load(&target.aws.settings(), Metrics::default()).await;
    let region = factory
        .default_region()
        .ok_or_else(|| Error::Config("no AWS region: set --region or AWS_REGION".to_string()))?;
    let sqs = factory.sqs(&region);
    let eventbridge = factory.eventbridge(&region);
    if install_it {
        install(&sqs, &eventbridge, &target.queue).await
    } else {
        uninstall(&sqs, &eventbridge, &target.queue).await
    }
}

fn rule_name(queue: &str, suffix: &str) -> String {
    format!("{queue}-{suffix}")
}

fn failed(operation: &'static str, error: impl std::error::Error) -> Error {
    Error::Config(format!(
        "{operation}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(error)
    ))
}

async fn install(
    sqs: &aws_sdk_sqs::Client,
    eventbridge: &aws_sdk_eventbridge::Client,
    queue: &str,
) -> Result<ExitCode> {
    // CreateQueue answers the existing queue when its attributes are the same.
    let url = sqs
        .create_queue()
        .queue_name(queue)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod,
            "3600",
        )
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::ReceiveMessageWaitTimeSeconds,
            "20",
        )
        .tags(TAG.0, TAG.1)
        .send()
        .await
        .map_err(|e| failed("sqs:CreateQueue", e))?
        .queue_url
        .ok_or_else(|| Error::Config("sqs:CreateQueue returned no URL".into()))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed("sqs:GetQueueAttributes", e))?
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .ok_or_else(|| Error::Config("the queue has no ARN".into()))?;
    let mut rule_arns = Vec::new();
    for (suffix, pattern) in rules() {
        let name = rule_name(queue, suffix);
        let rule = eventbridge
            .put_rule()
            .name(&name)
            .description("AWS events for ecsfleet's controller (ecsfleet events install)")
            .event_pattern(pattern.to_string())
            .tags(
                aws_sdk_eventbridge::types::Tag::builder()
                    .key(TAG.0)
                    .value(TAG.1)
                    .build()
                    .expect("key and value are set"),
            )
            .send()
            .await
            .map_err(|e| failed("events:PutRule", e))?;
        eventbridge
            .put_targets()
            .rule(&name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("ecsfleet")
                    .arn(&arn)
                    .build()
                    .expect("id and arn are set"),
            )
            .send()
            .await
            .map_err(|e| failed("events:PutTargets", e))?;
        rule_arns.extend(rule.rule_arn);
        println!("rule {name}: {pattern}");
    }
    // Only these rules may send to the queue.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EventBridgeRulesOfEcsfleet",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}}
        }]
    });
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::Policy,
            policy.to_string(),
        )
        .send()
        .await
        .map_err(|e| failed("sqs:SetQueueAttributes", e))?;
    println!("queue {arn}");
    println!("run the controller with: --events-queue-url {url}");
    Ok(ExitCode::SUCCESS)
}

async fn uninstall(
    sqs: &aws_sdk_sqs::Client,
    eventbridge: &aws_sdk_eventbridge::Client,
    queue: &str,
) -> Result<ExitCode> {
    for (suffix, _) in rules() {
        let name = rule_name(queue, suffix);
        match eventbridge
            .remove_targets()
            .rule(&name)
            .ids("ecsfleet")
            .send()
            .await
        {
            Ok(_) => {}
            Err(error) if is_missing(&error) => continue,
            Err(error) => return Err(failed("events:RemoveTargets", error)),
        }
        match eventbridge.delete_rule().name(&name).send().await {
            Ok(_) => println!("deleted rule {name}"),
            Err(error) if is_missing(&error) => {}
            Err(error) => return Err(failed("events:DeleteRule", error)),
        }
    }
    match sqs.get_queue_url().queue_name(queue).send().await {
        Ok(answer) => {
            let url = answer.queue_url.unwrap_or_default();
            let tags = sqs
                .list_queue_tags()
                .queue_url(&url)
                .send()
                .await
                .map_err(|e| failed("sqs:ListQueueTags", e))?
                .tags
                .unwrap_or_default();
            if tags.get(TAG.0).map(String::as_str) != Some(TAG.1) {
                return Err(Error::Config(format!(
                    "the queue {queue} was not made by `ecsfleet events install` (no {}={} tag): left alone",
                    TAG.0, TAG.1
                )));
            }
            sqs.delete_queue()
                .queue_url(&url)
                .send()
                .await
                .map_err(|e| failed("sqs:DeleteQueue", e))?;
            println!("deleted queue {url}");
        }
        Err(error) if is_missing(&error) => {}
        Err(error) => return Err(failed("sqs:GetQueueUrl", error)),
    }
    Ok(ExitCode::SUCCESS)
}

fn is_missing<E: ProvideErrorMetadata>(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> bool {
    matches!(
        error.code(),
        Some(
            "ResourceNotFoundException"
                | "AWS.SimpleQueueService.NonExistentQueue"
                | "QueueDoesNotExist"
        )
    )
}
