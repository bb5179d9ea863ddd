"""The events AWS services publish to EventBridge, for moto (imported by ecsfleet_moto.py).

moto routes events to the targets of matching EventBridge rules (SQS queues among them)
but never publishes the events AWS services themselves send to the default bus. These
extensions publish, in the shapes AWS documents (same `source`, `detail-type` and
`detail` fields), the ones ecsfleet listens for:

- ECS "ECS Container Instance State Change" (source aws.ecs) when a container instance
  registers (ACTIVE), is set DRAINING or ACTIVE, or deregisters (INACTIVE);
  resources: the container instance ARN.
- ECS "ECS Deployment State Change" (SERVICE_DEPLOYMENT_COMPLETED) when a service
  settles after CreateService or UpdateService; resources: the service ARN.
- Auto Scaling "EC2 Instance Launch Successful" and "EC2 Instance Terminate
  Successful" (source aws.autoscaling) for every instance a group launches or
  terminates; resources: the group ARN and the instance ARN.
- "AWS API Call via CloudTrail" for the write calls ecsfleet watches (IAM, Auto Scaling,
  CloudWatch, ECS), after they succeed, with eventSource, eventName, awsRegion,
  userAgent (the caller's User-Agent header) and requestParameters (the call's
  parameters with camelCase names, as CloudTrail records them). IAM is a global
  service: like AWS, its events are published in us-east-1 only.

Events go to the default bus of the region (and the emulator's one account) the call
was made in. Nothing is published when no rule matches; publishing never fails a call.
"""

import io
import json
import re
import urllib.parse
import uuid
from datetime import datetime, timezone

import cbor2
from moto.autoscaling import models as as_models
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs import models as ecs_models
from moto.events.models import events_backends


def publish(region, source, detail_type, resources, detail):
    try:
        backend = events_backends[DEFAULT_ACCOUNT_ID][region]
        backend.put_events(
            [
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Resources": resources,
                    "Detail": json.dumps(detail),
                }
            ]
        )
    except Exception:  # noqa: BLE001 - publishing is a side effect; never fail the call
        pass


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- ECS ------------------------------------------------------------------------------


def _instance_changed(backend, instance, status=None):
    cluster_arn = (
        f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:cluster/"
        f"{instance.cluster_name}"
    )
    publish(
        backend.region_name,
        "aws.ecs",
        "ECS Container Instance State Change",
        [instance.container_instance_arn],
        {
            "agentConnected": True,
            "attributes": [],
            "clusterArn": cluster_arn,
            "containerInstanceArn": instance.container_instance_arn,
            "ec2InstanceId": instance.ec2_instance_id,
            "status": status or instance.status,
            "version": 1,
            "updatedAt": _now(),
        },
    )


_original_register = ecs_models.EC2ContainerServiceBackend.register_container_instance


def register_container_instance(self, cluster_str, ec2_instance_id):
    instance = _original_register(self, cluster_str, ec2_instance_id)
    _instance_changed(self, instance)
    return instance


_original_update_state = (
    ecs_models.EC2ContainerServiceBackend.update_container_instances_state
)


def update_container_instances_state(self, cluster_str, ids, status):
    changed, failures = _original_update_state(self, cluster_str, ids, status)
    for instance in changed:
        _instance_changed(self, instance)
    return changed, failures


_original_deregister = (
    ecs_models.EC2ContainerServiceBackend.deregister_container_instance
)


def deregister_container_instance(self, cluster_str, container_instance_str, force):
    instance = _original_deregister(self, cluster_str, container_instance_str, force)
    _instance_changed(self, instance, status="INACTIVE")
    return instance


ecs_models.EC2ContainerServiceBackend.register_container_instance = (
    register_container_instance
)
ecs_models.EC2ContainerServiceBackend.update_container_instances_state = (
    update_container_instances_state
)
ecs_models.EC2ContainerServiceBackend.deregister_container_instance = (
    deregister_container_instance
)


def deployment_completed(service):
    """Called by ecsfleet_moto's scheduler once a service has settled."""
    region = service.arn.split(":")[3]
    deployment = (service.deployments or [{}])[0]
    publish(
        region,
        "aws.ecs",
        "ECS Deployment State Change",
        [service.arn],
        {
            "eventType": "INFO",
            "eventName": "SERVICE_DEPLOYMENT_COMPLETED",
            "deploymentId": deployment.get("id", "ecs-svc/0"),
            "updatedAt": _now(),
            "reason": "ECS deployment completed.",
        },
    )


# --- Auto Scaling ---------------------------------------------------------------------


def _instance_event(group, instance_id, launched):
    region = group.region
    kind = "Launch" if launched else "Terminate"
    now = _now()
    publish(
        region,
        "aws.autoscaling",
        f"EC2 Instance {kind} Successful",
        [group.arn, f"arn:aws:ec2:{region}:{DEFAULT_ACCOUNT_ID}:instance/{instance_id}"],
        {
            "StatusCode": "InProgress",
            "AutoScalingGroupName": group.name,
            "ActivityId": str(uuid.uuid4()),
            "Details": {},
            "RequestId": str(uuid.uuid4()),
            "StatusMessage": "",
            "EndTime": now,
            "EC2InstanceId": instance_id,
            "StartTime": now,
            "Cause": f"An instance was {'launched' if launched else 'terminated'}.",
        },
    )


def _ids(group):
    return [state.instance.id for state in group.instance_states]


def _publish_difference(group, before):
    after = _ids(group)
    for instance_id in after:
        if instance_id not in before:
            _instance_event(group, instance_id, launched=True)
    for instance_id in before:
        if instance_id not in after:
            _instance_event(group, instance_id, launched=False)


def _diffing(method):
    def wrapped(self, *args, **kwargs):
        before = _ids(self)
        result = method(self, *args, **kwargs)
        _publish_difference(self, before)
        return result

    return wrapped


# Every launch and termination of a group goes through one of these.
as_models.FakeAutoScalingGroup.set_desired_capacity = _diffing(
    as_models.FakeAutoScalingGroup.set_desired_capacity
)
as_models.FakeAutoScalingGroup.replace_autoscaling_group_instances = _diffing(
    as_models.FakeAutoScalingGroup.replace_autoscaling_group_instances
)

_original_delete_group = as_models.AutoScalingBackend.delete_auto_scaling_group


def delete_auto_scaling_group(self, group_name):
    group = self.autoscaling_groups.get(group_name)
    before = _ids(group) if group is not None else []
    _original_delete_group(self, group_name)
    for instance_id in before:
        _instance_event(group, instance_id, launched=False)


as_models.AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group


def instances_removed(group, removed_ids):
    """Called by ecsfleet_moto's instance refresh for the instances it replaced."""
    for instance_id in removed_ids:
        _instance_event(group, instance_id, launched=False)


# --- CloudTrail -----------------------------------------------------------------------

# eventSource → the write calls recorded (the ones ecsfleet repairs drift of).
_RECORDED = {
    "iam.amazonaws.com": {
        "UpdateAssumeRolePolicy",
        "CreatePolicyVersion",
        "SetDefaultPolicyVersion",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePolicy",
        "DeleteRolePolicy",
        "UpdateRole",
        "UpdateRoleDescription",
        "PutRolePermissionsBoundary",
        "DeleteRolePermissionsBoundary",
        "DeleteRole",
    },
    "autoscaling.amazonaws.com": {
        "UpdateAutoScalingGroup",
        "PutScalingPolicy",
        "DeletePolicy",
        "PutLifecycleHook",
        "DeleteLifecycleHook",
        "PutNotificationConfiguration",
        "DeleteNotificationConfiguration",
        "SetDesiredCapacity",
        "DeleteAutoScalingGroup",
    },
    "monitoring.amazonaws.com": {"PutMetricAlarm", "DeleteAlarms"},
    "ecs.amazonaws.com": {"UpdateService", "DeleteService"},
}
_SIGNING_NAMES = {
    "iam": "iam.amazonaws.com",
    "autoscaling": "autoscaling.amazonaws.com",
    "monitoring": "monitoring.amazonaws.com",
    "ecs": "ecs.amazonaws.com",
}
# The `source` of a service's CloudTrail events on EventBridge.
_EVENT_SOURCES = {
    "iam.amazonaws.com": "aws.iam",
    "autoscaling.amazonaws.com": "aws.autoscaling",
    "monitoring.amazonaws.com": "aws.cloudwatch",
    "ecs.amazonaws.com": "aws.ecs",
}
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


def _camel(name):
    return name[:1].lower() + name[1:]


def _query_parameters(form):
    """Query protocol form fields as CloudTrail records them: camelCase names, members
    of lists (`AlarmNames.member.1`) gathered into lists."""
    parameters = {}
    for key, values in form.items():
        if key in ("Action", "Version"):
            continue
        parts = key.split(".")
        name = _camel(parts[0])
        if len(parts) >= 3 and parts[1] == "member":
            parameters.setdefault(name, []).append(values[0])
        elif len(parts) == 1:
            parameters[name] = values[0]
    return parameters


def recorded_call(environ, body):
    """(region, eventSource, eventName, requestParameters) of a write call CloudTrail
    records, or None."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None
    region, signing_name = match.groups()
    source = _SIGNING_NAMES.get(signing_name)
    if source is None:
        return None
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    path = environ.get("PATH_INFO", "")
    try:
        if target:
            name = target.split(".")[-1]
            parameters = json.loads(body or b"{}")
        elif path.startswith("/service/"):
            name = path.split("/")[-1]
            parameters = {_camel(k): v for k, v in cbor2.loads(body).items()} if body else {}
        else:
            form = urllib.parse.parse_qs(body.decode())
            name = form.get("Action", [""])[0]
            parameters = _query_parameters(form)
    except Exception:  # noqa: BLE001 - not a call we can read: not recorded
        return None
    if name not in _RECORDED[source]:
        return None
    if source == "iam.amazonaws.com":
        region = "us-east-1"
    return region, source, name, parameters


def cloudtrail_middleware(app):
    """Wraps the WSGI app: a recorded write call that succeeds publishes its event."""

    def middleware(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        call = recorded_call(environ, body)
        if call is None:
            return app(environ, start_response)
        status = {}

        def capture(code, headers, exc_info=None):
            status["code"] = code
            return start_response(code, headers, exc_info)

        answer = list(app(environ, capture))
        if status.get("code", "").startswith("2"):
            region, source, name, parameters = call
            publish(
                region,
                _EVENT_SOURCES[source],
                "AWS API Call via CloudTrail",
                [],
                {
                    "eventVersion": "1.09",
                    "userIdentity": {
                        "type": "IAMUser",
                        "arn": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:user/emulator",
                        "accountId": DEFAULT_ACCOUNT_ID,
                    },
                    "eventTime": _now(),
                    "eventSource": source,
                    "eventName": name,
                    "awsRegion": region,
                    "sourceIPAddress": environ.get("REMOTE_ADDR", "127.0.0.1"),
                    "userAgent": environ.get("HTTP_USER_AGENT", ""),
                    "requestParameters": parameters,
                    "responseElements": None,
                    "requestID": str(uuid.uuid4()),
                    "eventID": str(uuid.uuid4()),
                    "readOnly": False,
                    "eventType": "AwsApiCall",
                    "managementEvent": True,
                    "recipientAccountId": DEFAULT_ACCOUNT_ID,
                    "eventCategory": "Management",
                },
            )
        return answer

    return middleware
