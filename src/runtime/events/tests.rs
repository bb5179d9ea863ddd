use serde_json::json;

use super::*;

fn event(source: &str, detail_type: &str, resources: &[&str], detail: Value) -> String {
    json!({
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": detail_type, "source": source, "account": "123456789012",
        "time": "2026-11-24T00:00:00Z", "region": "eu-west-1",
        "resources": resources, "detail": detail,
    })
    .to_string()
}

fn cloudtrail(source: &str, name: &str, parameters: Value, user_agent: &str) -> String {
    event(
        "aws.iam",
        "AWS API Call via CloudTrail",
        &[],
        json!({"eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
               "userAgent": user_agent, "requestParameters": parameters}),
    )
}

#[test]
fn a_container_instance_change_is_a_hosts_change_of_its_cluster() {
    let body = event(
        "aws.ecs",
        "ECS Container Instance State Change",
        &["arn:aws:ecs:eu-west-1:123456789012:container-instance/production/0b1c"],
        json!({"clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/production",
               "containerInstanceArn": "arn:aws:ecs:eu-west-1:123456789012:container-instance/production/0b1c",
               "ec2InstanceId": "i-0123", "status": "DRAINING", "agentConnected": true}),
    );
    assert_eq!(
        parse(&body).unwrap(),
        Reaction::Hosts(ClusterChange {
            region: "eu-west-1".into(),
            cluster: "production".into()
        })
    );
}

#[test]
fn a_deployment_change_names_its_service() {
    let body = event(
        "aws.ecs",
        "ECS Deployment State Change",
        &["arn:aws:ecs:eu-west-1:123456789012:service/production/datadog-agent"],
        json!({"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED"}),
    );
    assert_eq!(
        parse(&body).unwrap(),
        Reaction::Reconcile(Trigger::Service {
            region: "eu-west-1".into(),
            cluster: "production".into(),
            service: "datadog-agent".into()
        })
    );
}

#[test]
fn auto_scaling_activity_names_its_group() {
    for detail_type in [
        "EC2 Instance Launch Successful",
        "EC2 Instance Terminate Unsuccessful",
        "EC2 Auto Scaling Instance Refresh Failed",
    ] {
        let body = event(
            "aws.autoscaling",
            detail_type,
            &[],
            json!({"AutoScalingGroupName": "web", "EC2InstanceId": "i-1"}),
        );
        assert_eq!(
            parse(&body).unwrap(),
            Reaction::Reconcile(Trigger::Group {
                region: "eu-west-1".into(),
                group: "web".into()
            }),
            "{detail_type}"
        );
    }
}

#[test]
fn cloudtrail_writes_name_what_they_touched() {
    let cases = [
        (
            cloudtrail(
                "iam.amazonaws.com",
                "UpdateAssumeRolePolicy",
                json!({"roleName": "Vendor", "policyDocument": "{}"}),
                "aws-cli/2.15",
            ),
            Reaction::Reconcile(Trigger::Role {
                role: "Vendor".into(),
            }),
        ),
        (
            cloudtrail(
                "iam.amazonaws.com",
                "CreatePolicyVersion",
                json!({"policyArn": "arn:aws:iam::123456789012:policy/VendorPolicy-2"}),
                "console.amazonaws.com",
            ),
            Reaction::Reconcile(Trigger::Policy {
                arn: "arn:aws:iam::123456789012:policy/VendorPolicy-2".into(),
            }),
        ),
        (
            cloudtrail(
                "monitoring.amazonaws.com",
                "DeleteAlarms",
                json!({"alarmNames": ["web-cpu-high", "other"]}),
                "Boto3/1.35",
            ),
            Reaction::Reconcile(Trigger::Alarms {
                region: "eu-west-1".into(),
                names: vec!["web-cpu-high".into(), "other".into()],
            }),
        ),
        (
            cloudtrail(
                "ecs.amazonaws.com",
                "UpdateService",
                json!({"cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/production", "service": "agent", "desiredCount": 9}),
                "aws-cli/2.15",
            ),
            Reaction::Reconcile(Trigger::Service {
                region: "eu-west-1".into(),
                cluster: "production".into(),
                service: "agent".into(),
            }),
        ),
        (
            cloudtrail(
                "autoscaling.amazonaws.com",
                "PutScalingPolicy",
                json!({"autoScalingGroupName": "web", "policyName": "cpu-high"}),
                "aws-cli/2.15",
            ),
            Reaction::Reconcile(Trigger::Group {
                region: "eu-west-1".into(),
                group: "web".into(),
            }),
        ),
    ];
    for (body, reaction) in cases {
        assert_eq!(parse(&body).unwrap(), reaction, "{body}");
    }
}

#[test]
fn ecsfleets_own_writes_and_foreign_events_are_ignored() {
    let own = cloudtrail(
        "iam.amazonaws.com",
        "UpdateAssumeRolePolicy",
        json!({"roleName": "Vendor"}),
        "aws-sdk-rust/1.3.9 ua/2.1 api/iam/1.133 os/linux lang/rust/1.95.0 app/ecsfleet",
    );
    assert!(matches!(parse(&own).unwrap(), Reaction::Ignore(_)));
    // Another application whose name only begins like ours is not us.
    let other = own.replace("app/ecsfleet", "app/ecsfleet-fork");
    assert!(matches!(parse(&other).unwrap(), Reaction::Reconcile(_)));
    let s3 = event(
        "aws.s3",
        "Object Created",
        &[],
        json!({"bucket": {"name": "b"}}),
    );
    assert!(matches!(parse(&s3).unwrap(), Reaction::Ignore(_)));
    let read = cloudtrail(
        "iam.amazonaws.com",
        "GetRole",
        json!({"roleName": "Vendor"}),
        "x",
    );
    assert!(matches!(parse(&read).unwrap(), Reaction::Ignore(_)));
}

#[test]
fn malformed_messages_are_refused_not_panicked_on() {
    for body in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"source": "aws.ecs", "detail-type": "ECS Container Instance State Change", "region": "eu-west-1"}"#,
        r#"{"source": "aws.ecs", "detail-type": "ECS Container Instance State Change", "region": "eu-west-1", "detail": {}}"#,
        r#"{"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail", "region": "us-east-1", "detail": {"eventSource": "iam.amazonaws.com", "eventName": "UpdateAssumeRolePolicy", "requestParameters": null}}"#,
        &"[".repeat(100_000),
    ] {
        assert!(parse(body).is_err(), "{body:.80}");
    }
}

#[test]
fn queues_name_their_region() {
    let queue = |text| Queue::parse(text, Some("eu-west-1"));
    assert_eq!(
        queue("https://sqs.us-east-1.amazonaws.com/123456789012/ecsfleet").unwrap(),
        Queue {
            region: "us-east-1".into(),
            url: "https://sqs.us-east-1.amazonaws.com/123456789012/ecsfleet".into()
        }
    );
    assert_eq!(
        queue("us-west-2=http://127.0.0.1:5000/123456789012/ecsfleet")
            .unwrap()
            .region,
        "us-west-2"
    );
    assert_eq!(
        queue("http://127.0.0.1:5000/123456789012/ecsfleet")
            .unwrap()
            .region,
        "eu-west-1"
    );
    assert!(queue("ecsfleet").is_err());
    assert!(Queue::parse("http://127.0.0.1:5000/1/q", None).is_err());
}

#[test]
fn every_call_the_rules_deliver_is_one_parse_acts_on() {
    let mut names = CLOUDTRAIL_CALLS.to_vec();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CLOUDTRAIL_CALLS.len(), "listed once each");
    for name in CLOUDTRAIL_CALLS {
        let parameters = json!({"roleName": "r", "policyArn": "arn:aws:iam::1:policy/p",
            "autoScalingGroupName": "g", "alarmName": "a", "alarmNames": ["a"], "service": "s"});
        let acted = ["iam", "autoscaling", "monitoring", "ecs"]
            .iter()
            .any(|service| {
                matches!(
                    parse(&cloudtrail(
                        &format!("{service}.amazonaws.com"),
                        name,
                        parameters.clone(),
                        "x"
                    )),
                    Ok(Reaction::Reconcile(_))
                )
            });
        assert!(acted, "{name} is delivered but not acted on");
    }
}
