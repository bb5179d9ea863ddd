"""Starts moto's server with the small extensions ecsfleet's tests need.

moto 5.2.5 models ECS's API but not its scheduler, and drops a few request fields.
Each extension below fills one such gap, so that the emulator answers as AWS does;
none of them changes what moto already does right. ecsfleet itself is written for
real AWS and never depends on these extensions being present.

ECS
- CreateService: moto drops placementConstraints, placementStrategy,
  deploymentConfiguration, capacityProviderStrategy, enableExecuteCommand,
  enableECSManagedTags and healthCheckGracePeriodSeconds, so DescribeServices never
  echoes them (UpdateService already keeps them). They are stored on the service.
- The scheduler: moto never starts tasks or completes deployments. After
  CreateService and UpdateService the service settles as ECS's scheduler would once
  every task is placed: runningCount = desiredCount, pendingCount = 0, and one
  PRIMARY deployment of the current task definition in rolloutState COMPLETED.
- RegisterTaskDefinition: moto drops enableFaultInjection and
  trustedExecutionConfiguration, so DescribeTaskDefinition never echoes them. They are
  stored on the revision (every other member of the request moto keeps as given).
- Service lookups (CreateService's and UpdateService's): moto scans every service of
  every cluster for each; they are looked up by the "cluster:name" key moto stores them
  under (the scan stays as the fallback), so 10,000 services do not make the emulator
  the bottleneck of the scale benchmark.

Auto Scaling
- Notification configurations (PutNotificationConfiguration,
  DescribeNotificationConfigurations, DeleteNotificationConfiguration): missing in
  moto; stored per group and topic, deleted with the group, as AWS does.
- Instance refreshes (StartInstanceRefresh, DescribeInstanceRefreshes): missing in
  moto. A refresh applies its DesiredConfiguration, replaces every instance at once and
  is recorded as Successful (newest first); a second start while one is active fails
  with InstanceRefreshInProgress, as on AWS.
- Instances report the launch template version they were launched from (moto reports
  the template's default version for every instance).
- EnableMetricsCollection adds the metrics named (moto replaces the list with them);
  DisableMetricsCollection, missing in moto, removes them.
- PutScalingPolicy keeps Enabled (moto drops it; a policy is enabled unless told).
- PutLifecycleHook keeps NotificationTargetARN and RoleARN (moto echoes a fixed pair);
  hooks are deleted with their group.
- CreateLaunchTemplateVersion stores UserData as CreateLaunchTemplate does (moto keeps
  the raw text, and launching from that version then fails an assertion).
- Mixed groups: the Spot share of the instances (moto computes the On-Demand/Spot split
  but launches every instance alike) reports InstanceLifecycle "spot" in
  DescribeInstances, the oldest instances being the On-Demand ones.
- DeleteAutoScalingGroup refuses a group with deletion protection (prevent-all-deletion,
  or prevent-force-deletion while it has instances); CreateAutoScalingGroup and
  UpdateAutoScalingGroup keep DeletionProtection.
- UpdateAutoScalingGroup applies DefaultCooldown and TerminationPolicies (moto ignores
  them on update); CreateAutoScalingGroup and UpdateAutoScalingGroup keep
  CapacityRebalance, DefaultInstanceWarmup, MaxInstanceLifetime and
  InstanceMaintenancePolicy (moto drops some of them), so DescribeAutoScalingGroups
  echoes them.
- Left as moto has it on purpose: PutScalingPolicy answers PolicyArn instead of
  PolicyARN, so the SDK sees no ARN and ecsfleet must read it back with
  DescribePolicies, as it would if AWS ever omitted it.

CloudWatch
- The Smithy RPC v2 CBOR protocol, the only one current AWS SDKs speak to CloudWatch:
  moto 5.2.5 answers CloudWatch's Query and JSON protocols only. A request to
  /service/GraniteServiceVersion20100801/operation/<Op> is decoded from CBOR, handed to
  moto as the same operation in the JSON protocol, and the answer is encoded back to
  CBOR (timestamps as CBOR tag 1, numbers as the service model types them).

Cluster auto scaling and Managed Daemons
- Capacity providers that scale (managed scaling, termination protection, managed
  draining), Managed Instances providers, the task placement of clusters that have
  capacity providers, and the Managed Daemons API: see ecsfleet_capacity.py.

EventBridge
- The events AWS services publish (ECS container instance and deployment changes, Auto
  Scaling launches and terminations, CloudTrail records of write calls): see
  ecsfleet_events.py.

Usage: python ecsfleet_moto.py --port PORT [--host 127.0.0.1]
"""

import argparse
import io
import json
import uuid
from datetime import datetime, timezone

import cbor2
import ecsfleet_capacity
import ecsfleet_events
import moto.server as moto_server
from moto.core.utils import get_service_model

from moto.autoscaling import models as as_models
from moto.autoscaling import responses as as_responses
from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models import launch_templates as lt_models
from moto.ec2.utils import parse_user_data

from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses

_KEPT_ON_CREATE = {
    "placementConstraints": "placement_constraints",
    "placementStrategy": "placement_strategy",
    "deploymentConfiguration": "deployment_configuration",
    "capacityProviderStrategy": "capacity_provider_strategy",
    "enableExecuteCommand": "enable_execute_command",
    "enableECSManagedTags": "enable_ecs_managed_tags",
    "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
}


def _settle(service):
    """What ECS's scheduler reaches once every task of the service is placed."""
    if service.status != "ACTIVE" or not service.deployments:
        return
    service.running_count = service.desired_count
    service.pending_count = 0
    primary = service.deployments[0]
    primary.update(
        {
            "desiredCount": service.desired_count,
            "runningCount": service.desired_count,
            "pendingCount": 0,
            "taskDefinition": service.task_definition,
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {primary['id']} completed.",
            "status": "PRIMARY",
        }
    )
    del service.deployments[1:]
    # Clusters with capacity providers place tasks on instances (ecsfleet_capacity).
    ecsfleet_capacity.reschedule(service.cluster_name, service._backend)
    ecsfleet_events.deployment_completed(service)


_original_create_service = ecs_responses.EC2ContainerServiceResponse.create_service
_original_update_service = ecs_models.EC2ContainerServiceBackend.update_service


def create_service(self):
    result = _original_create_service(self)
    cluster = self._get_param("cluster", "default")
    name = self._get_param("serviceName")
    service = self.ecs_backend._get_service(cluster, name)
    for param, attribute in _KEPT_ON_CREATE.items():
        value = self._get_param(param)
        if value is not None:
            setattr(service, attribute, value)
    _settle(service)
    return result


def update_service(self, service_properties):
    service = _original_update_service(self, service_properties)
    _settle(service)
    return service


# RegisterTaskDefinition's members moto does not store, by the attribute its serializer
# reads them from.
_KEPT_ON_REGISTER = {
    "enableFaultInjection": "enable_fault_injection",
    "trustedExecutionConfiguration": "trusted_execution_configuration",
}
_original_register_task_definition = (
    ecs_responses.EC2ContainerServiceResponse.register_task_definition
)


def register_task_definition(self):
    result = _original_register_task_definition(self)
    definition = result.result["taskDefinition"]
    for param, attribute in _KEPT_ON_REGISTER.items():
        value = self._get_param(param)
        if value is not None:
            setattr(definition, attribute, value)
    return result


ecs_responses.EC2ContainerServiceResponse.register_task_definition = register_task_definition
ecs_responses.EC2ContainerServiceResponse.create_service = create_service
ecs_models.EC2ContainerServiceBackend.update_service = update_service

_original_get_service = ecs_models.EC2ContainerServiceBackend._get_service


def _get_service(self, cluster_str, service_str):
    """moto keys services by "cluster:name" but looks them up by scanning all of them."""
    cluster = self._get_cluster(cluster_str)
    service = self.services.get(f"{cluster.name}:{service_str.split('/')[-1]}")
    if service is not None and service_str in (service.name, service.arn):
        return service
    return _original_get_service(self, cluster_str, service_str)


ecs_models.EC2ContainerServiceBackend._get_service = _get_service


# --- Auto Scaling -------------------------------------------------------------------

_ACTIVE_REFRESH = {"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"}


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


def _extras(backend):
    """Per-backend state moto has no place for: notifications and refreshes."""
    if not hasattr(backend, "ecsfleet_notifications"):
        backend.ecsfleet_notifications = {}  # (group, topic) -> set of types
        backend.ecsfleet_refreshes = {}  # group -> [refresh], newest first
    return backend


def _group(backend, name):
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - {name}")
    return group


def put_notification_configuration(self):
    backend = _extras(self.autoscaling_backend)
    name = self._get_param("AutoScalingGroupName")
    _group(backend, name)
    topic = self._get_param("TopicARN")
    types = set(self._get_param("NotificationTypes", []))
    backend.ecsfleet_notifications[(name, topic)] = types
    return EmptyResult()


def describe_notification_configurations(self):
    backend = _extras(self.autoscaling_backend)
    names = self._get_param("AutoScalingGroupNames", [])
    configurations = [
        {"AutoScalingGroupName": group, "TopicARN": topic, "NotificationType": kind}
        for (group, topic), types in sorted(backend.ecsfleet_notifications.items())
        if not names or group in names
        for kind in sorted(types)
    ]
    return ActionResult({"NotificationConfigurations": configurations})


def delete_notification_configuration(self):
    backend = _extras(self.autoscaling_backend)
    key = (self._get_param("AutoScalingGroupName"), self._get_param("TopicARN"))
    if key not in backend.ecsfleet_notifications:
        raise ValidationError("Notification configuration not found")
    del backend.ecsfleet_notifications[key]
    return EmptyResult()


def start_instance_refresh(self):
    backend = _extras(self.autoscaling_backend)
    name = self._get_param("AutoScalingGroupName")
    group = _group(backend, name)
    refreshes = backend.ecsfleet_refreshes.setdefault(name, [])
    if refreshes and refreshes[0]["Status"] in _ACTIVE_REFRESH:
        raise InstanceRefreshInProgress(
            f"An Instance Refresh is already in progress for {name}"
        )
    desired = self._get_param("DesiredConfiguration") or {}
    if desired.get("LaunchTemplate"):
        group._set_launch_configuration(None, desired["LaunchTemplate"], None)
    # Launch the replacements first: a failure leaves the old instances in place.
    old = list(group.instance_states)
    if old:
        group.replace_autoscaling_group_instances(len(old), group.get_propagated_tags())
        group.instance_states = [s for s in group.instance_states if s not in old]
        backend.ec2_backend.terminate_instances([s.instance.id for s in old])
        ecsfleet_events.instances_removed(group, [s.instance.id for s in old])
        _mark_spot(group)
    now = datetime.now(timezone.utc)
    refresh = {
        "InstanceRefreshId": str(uuid.uuid4()),
        "AutoScalingGroupName": name,
        "Status": "Successful",
        "StatusReason": "All instances replaced",
        "StartTime": now,
        "EndTime": now,
        "PercentageComplete": 100,
        "InstancesToUpdate": 0,
        "Preferences": self._get_param("Preferences") or {},
        "DesiredConfiguration": desired,
    }
    refreshes.insert(0, refresh)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def describe_instance_refreshes(self):
    backend = _extras(self.autoscaling_backend)
    name = self._get_param("AutoScalingGroupName")
    refreshes = backend.ecsfleet_refreshes.get(name, [])
    wanted = self._get_param("InstanceRefreshIds", [])
    if wanted:
        refreshes = [r for r in refreshes if r["InstanceRefreshId"] in wanted]
    limit = self._get_int_param("MaxRecords") or 50
    return ActionResult({"InstanceRefreshes": refreshes[:limit]})


def enable_metrics_collection(self):
    """Adds the metrics named (moto replaces the list with them)."""
    group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
    group.metrics = sorted(set(group.metrics or []) | set(self._get_param("Metrics") or []))
    return EmptyResult()


def disable_metrics_collection(self):
    """Missing in moto: stops collecting the metrics named (all when none are)."""
    group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
    named = self._get_param("Metrics") or []
    group.metrics = [m for m in (group.metrics or []) if named and m not in named]
    return EmptyResult()


_original_put_scaling_policy = as_responses.AutoScalingResponse.put_scaling_policy


def put_scaling_policy(self):
    result = _original_put_scaling_policy(self)
    enabled = self._get_params().get("Enabled")
    policy = self.autoscaling_backend.policies[self._get_param("PolicyName")]
    policy.enabled = True if enabled is None else enabled
    return result


_original_put_lifecycle_hook = as_responses.AutoScalingResponse.put_lifecycle_hook


def put_lifecycle_hook(self):
    result = _original_put_lifecycle_hook(self)
    key = f"{self._get_param('AutoScalingGroupName')}_{self._get_param('LifecycleHookName')}"
    hook = self.autoscaling_backend.lifecycle_hooks[key]
    hook.notification_target_arn = self._get_param("NotificationTargetARN")
    hook.role_arn = self._get_param("RoleARN")
    return result


_original_update_group = as_responses.AutoScalingResponse.update_auto_scaling_group


# Group settings moto drops on create and update, by the attribute its serializer reads.
_KEPT_GROUP_SETTINGS = {
    "CapacityRebalance": "capacity_rebalance",
    "DefaultInstanceWarmup": "default_instance_warmup",
    "MaxInstanceLifetime": "max_instance_lifetime",
    "InstanceMaintenancePolicy": "instance_maintenance_policy",
    "DeletionProtection": "deletion_protection",
}


def _keep_group_settings(response):
    group = response.autoscaling_backend.autoscaling_groups[
        response._get_param("AutoScalingGroupName")
    ]
    params = response._get_params()
    for param, attribute in _KEPT_GROUP_SETTINGS.items():
        if params.get(param) is not None:
            setattr(group, attribute, params[param])
    return group


def update_auto_scaling_group(self):
    result = _original_update_group(self)
    group = _keep_group_settings(self)
    cooldown = self._get_int_param("DefaultCooldown")
    if cooldown is not None:
        group.default_cooldown = cooldown
    policies = self._get_param("TerminationPolicies")
    if policies:
        group.termination_policies = policies
    return result


_original_create_group = as_responses.AutoScalingResponse.create_auto_scaling_group


def create_auto_scaling_group(self):
    result = _original_create_group(self)
    _keep_group_settings(self)
    return result


_original_delete_group = as_models.AutoScalingBackend.delete_auto_scaling_group


def delete_auto_scaling_group(self, group_name):
    # AWS refuses to delete a protected group (prevent-force-deletion: while it has
    # instances); moto has no deletion protection.
    group = self.autoscaling_groups.get(group_name)
    protection = getattr(group, "deletion_protection", "none") if group else "none"
    if protection == "prevent-all-deletion" or (
        protection == "prevent-force-deletion" and group.instance_states
    ):
        raise ValidationError(
            f"Auto Scaling group {group_name} has deletion protection {protection}"
        )
    _original_delete_group(self, group_name)
    backend = _extras(self)
    for key in [k for k in backend.ecsfleet_notifications if k[0] == group_name]:
        del backend.ecsfleet_notifications[key]
    backend.ecsfleet_refreshes.pop(group_name, None)
    for key in [k for k, h in self.lifecycle_hooks.items()
                if h.auto_scaling_group_name == group_name]:
        del self.lifecycle_hooks[key]


_original_instance_state_init = as_models.InstanceState.__init__


def instance_state_init(self, instance, *args, **kwargs):
    _original_instance_state_init(self, instance, *args, **kwargs)
    group = self.auto_scaling_group
    self.launched_template_version = (
        group.launch_template_version
        if group is not None and group.ec2_launch_template is not None
        else None
    )


def instance_launch_template(self):
    group = self.auto_scaling_group
    if group is None or group.ec2_launch_template is None:
        return None
    return {
        "LaunchTemplateId": group.ec2_launch_template.id,
        "LaunchTemplateName": group.ec2_launch_template.name,
        "Version": getattr(self, "launched_template_version", None)
        or group.launch_template_version,
    }


_original_create_version = lt_models.LaunchTemplate.create_version


def create_version(self, data, description):
    if isinstance(data.get("UserData"), str):
        data = dict(data, UserData=parse_user_data(data["UserData"]))
    return _original_create_version(self, data, description)


lt_models.LaunchTemplate.create_version = create_version


_original_set_desired_capacity = as_models.FakeAutoScalingGroup.set_desired_capacity


def _mark_spot(group):
    """Marks the Spot share of a mixed group's instances as EC2 does (InstanceLifecycle
    spot), by the split moto itself computes: the On-Demand base, then the On-Demand
    percentage of the rest; the oldest instances are the On-Demand ones."""
    policy = group.mixed_instances_policy or {}
    active = [s for s in group.instance_states if s.instance.state != "terminated"]
    total = len(active)
    distribution = policy.get("InstancesDistribution", {}) if policy else {}
    base = int(distribution.get("OnDemandBaseCapacity", 0))
    percent = int(distribution.get("OnDemandPercentageAboveBaseCapacity", 100))
    on_demand = total if not policy or base >= total else base + int((total - base) * percent / 100)
    for index, state in enumerate(active):
        state.instance.instance_lifecycle = None if index < on_demand else "spot"


def set_desired_capacity(self, new_capacity):
    _original_set_desired_capacity(self, new_capacity)
    _mark_spot(self)


as_models.FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity

for _name, _function in [
    ("put_notification_configuration", put_notification_configuration),
    ("describe_notification_configurations", describe_notification_configurations),
    ("delete_notification_configuration", delete_notification_configuration),
    ("start_instance_refresh", start_instance_refresh),
    ("describe_instance_refreshes", describe_instance_refreshes),
    ("put_lifecycle_hook", put_lifecycle_hook),
    ("put_scaling_policy", put_scaling_policy),
    ("enable_metrics_collection", enable_metrics_collection),
    ("disable_metrics_collection", disable_metrics_collection),
    ("update_auto_scaling_group", update_auto_scaling_group),
    ("create_auto_scaling_group", create_auto_scaling_group),
]:
    setattr(as_responses.AutoScalingResponse, _name, _function)
as_models.AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
as_models.InstanceState.__init__ = instance_state_init
as_models.InstanceState.launch_template = property(instance_launch_template)


# --- CloudWatch over Smithy RPC v2 CBOR ---------------------------------------------

_CBOR_SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}


def _json_default(value):
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value)}")


def _typed(value, shape):
    """A JSON protocol value as RPC v2 CBOR carries it, following the service model."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {k: _typed(v, shape.members.get(k)) for k, v in value.items()}
    if kind == "list":
        return [_typed(v, shape.member) for v in value]
    if kind == "map":
        return {k: _typed(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        return cbor2.CBORTag(1, float(value))
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long"):
        return int(value)
    return value


def _cbor_bridge(app, environ, start_response):
    parts = environ.get("PATH_INFO", "").split("/")
    service, operation = parts[2], parts[4]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    request = cbor2.loads(body) if body else {}
    payload = json.dumps(request, default=_json_default).encode()
    inner = dict(environ)
    inner.update(
        {
            "PATH_INFO": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(payload)),
            "HTTP_X_AMZ_TARGET": f"{service}.{operation}",
            "wsgi.input": io.BytesIO(payload),
        }
    )
    answered = {}

    def capture(status, headers, exc_info=None):
        answered["status"], answered["headers"] = status, headers
        return lambda data: None

    raw = b"".join(app(inner, capture))
    result = json.loads(raw) if raw.strip() else {}
    if answered["status"].startswith("2"):
        model = get_service_model(_CBOR_SERVICES[service]).operation_model(operation)
        result = _typed(result, model.output_shape)
    data = cbor2.dumps(result)
    headers = [
        (k, v)
        for k, v in answered["headers"]
        if k.lower() not in ("content-type", "content-length", "x-amz-crc32")
    ]
    headers += [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(len(data))),
    ]
    start_response(answered["status"], headers)
    return [data]


class _Dispatcher(moto_server.DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        answered = ecsfleet_capacity.control(environ, start_response)
        if answered is not None:
            return answered
        return ecsfleet_events.cloudtrail_middleware(self._dispatch)(environ, start_response)

    def _dispatch(self, environ, start_response):
        parts = environ.get("PATH_INFO", "").split("/")
        if len(parts) == 5 and parts[1] == "service" and parts[2] in _CBOR_SERVICES:
            return _cbor_bridge(super().__call__, environ, start_response)
        return super().__call__(environ, start_response)


moto_server.DomainDispatcherApplication = _Dispatcher


if __name__ == "__main__":
    from moto.server import main

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    main(["--host", args.host, "--port", str(args.port)])
