"""Cluster auto scaling and ECS Managed Daemons, as AWS documents them, for moto 5.2.5.

moto stores capacity providers but never scales with them, and it has no Managed
Daemons API. This module adds the least of each that lets ecsfleet's tests see what
AWS does. ecsfleet never depends on it: it is only the emulator's side of the world.

Capacity providers
- CreateCapacityProvider accepts `managedInstancesProvider` (with `cluster`), as AWS
  does since 2025; every provider reports its `type` (EC2_AUTOSCALING or
  MANAGED_INSTANCES), and Auto Scaling group providers `managedDraining` (default
  ENABLED, as for providers created since 2024).
- Container instances report `capacityProviderName`.

The scheduler of clusters with capacity providers (clusters without keep the plain
settle of ecsfleet_moto.py). Tasks are placed on container instances; resources are
not modelled, placement constraints are:
- a DAEMON service has one task on every ACTIVE instance; on a DRAINING instance its
  task stops last, once no other task is left (as ECS documents for daemon tasks);
- a REPLICA service keeps its tasks on ACTIVE instances (one per instance with
  `distinctInstance`, else on the least loaded), moves those of DRAINING instances,
  and leaves what it cannot place pending (PROVISIONING when it uses a capacity
  provider);
- runningCount, pendingCount, a DAEMON service's desiredCount and the primary
  deployment's rollout follow the placement.

Cluster auto scaling, one interval per call of POST /_ecsfleet/cluster-auto-scaling
{"region", "cluster", "intervals"}: for every Auto Scaling group provider of the
cluster with managed scaling ENABLED:
- instances the group launched join the cluster (as the ECS agent does at boot);
- N = the group's instances; M = the instances running at least one task that is not
  a DAEMON service's, or, with tasks waiting for capacity (PROVISIONING), N plus the
  most any one service still needs (at least N + 1); CapacityProviderReservation =
  M / N x 100 (100 when both are 0, 200 when only N is);
- target tracking sets the group's desired capacity to ceil(M x 100 / targetCapacity),
  within minSize..maxSize and the provider's scaling step sizes;
- managed termination protection: an instance running a task that is not a DAEMON
  service's is protected from scale-in; scale-in takes unprotected instances only;
- managed draining: an instance being scaled in is set DRAINING, its tasks stop (daemon
  tasks last), and only then is it deregistered and terminated.
Each interval's N, M, reservation and desired capacity are answered; GET
/_ecsfleet/timeline?region=R&cluster=C lists task stops and instance terminations in
order. POST /_ecsfleet/join {"region", "cluster"} registers the groups' instances
without scaling (hosts booting). POST /_ecsfleet/managed-instances {"region", "cluster", "capacityProvider",
"count"} launches instances of a Managed Instances provider (ECS would, for tasks).

Managed Daemons (RegisterDaemonTaskDefinition, DescribeDaemonTaskDefinition,
ListDaemonTaskDefinitions, CreateDaemon, DescribeDaemon, ListDaemons, UpdateDaemon, DeleteDaemon,
DescribeDaemonDeployments, DescribeDaemonRevisions; TagResource and
ListTagsForResource on daemons and daemon task definitions): a daemon runs one task on
every ACTIVE instance of its Managed Instances capacity providers; every create and
update is a deployment that completes at once (SUCCESSFUL). CreateDaemon is idempotent
for a repeated client token and refuses providers that are not Managed Instances.
ARNs follow ECS's shapes: daemon/<cluster>/<name>, daemon-task-definition/<family>:<n>,
daemon-deployment/<cluster>/<name>/<id>, daemon-revision/<cluster>/<name>/<id>.
"""

import json
import math
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs

from moto.autoscaling.models import autoscaling_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.models import ecs_backends

ACCOUNT = DEFAULT_ACCOUNT_ID


class _Error(JsonRESTError):
    def __init__(self, code, message):
        super().__init__(error_type=code, message=message)


def _now():
    return datetime.now(timezone.utc)


# --- Capacity providers ---------------------------------------------------------------

ecs_models.CapacityProvider.type = "EC2_AUTOSCALING"
ecs_models.CapacityProvider.managed_instances_provider = None
ecs_models.CapacityProvider.cluster = None
ecs_models.ContainerInstance.capacity_provider_name = None

_original_create_provider = ecs_responses.EC2ContainerServiceResponse.create_capacity_provider


def create_capacity_provider(self):
    managed = self._get_param("managedInstancesProvider")
    if managed is None:
        group = self._get_param("autoScalingGroupProvider") or {}
        result = _original_create_provider(self)
        provider = self.ecs_backend.capacity_providers[self._get_param("name")]
        provider.auto_scaling_group_provider.setdefault(
            "managedDraining", group.get("managedDraining", "ENABLED")
        )
        return result
    name = self._get_param("name")
    provider = ecs_models.CapacityProvider.__new__(ecs_models.CapacityProvider)
    provider._id = str(uuid.uuid4())
    provider.capacity_provider_arn = (
        f"arn:aws:ecs:{self.region}:{self.current_account}:capacity-provider/{name}"
    )
    provider.name = name
    provider.status = "ACTIVE"
    provider.auto_scaling_group_provider = None
    provider.managed_instances_provider = managed
    provider.cluster = self._get_param("cluster")
    provider.type = "MANAGED_INSTANCES"
    provider.tags = self._get_param("tags")
    provider.update_status = None
    self.ecs_backend.capacity_providers[name] = provider
    if provider.cluster:
        cluster = self.ecs_backend._get_cluster(provider.cluster)
        cluster.capacity_providers = (cluster.capacity_providers or []) + [name]
    return ActionResult({"capacityProvider": provider})


ecs_responses.EC2ContainerServiceResponse.create_capacity_provider = create_capacity_provider


def _providers(backend, cluster):
    for name in cluster.capacity_providers or []:
        provider = backend.capacity_providers.get(name)
        if provider is not None:
            yield provider


def _register(backend, cluster, instance_id, provider_name):
    instance = backend.register_container_instance(cluster.name, instance_id)
    instance.capacity_provider_name = provider_name
    return instance


# --- The scheduler of capacity-provider clusters -----------------------------------------


def _tasks(cluster):
    """instance id (the ARN's last part) -> set of service names with a task there."""
    if not hasattr(cluster, "_ecsfleet_tasks"):
        cluster._ecsfleet_tasks = {}
    return cluster._ecsfleet_tasks


def _timeline(cluster):
    if not hasattr(cluster, "_ecsfleet_timeline"):
        cluster._ecsfleet_timeline = []
    return cluster._ecsfleet_timeline


def _services(backend, cluster):
    return [
        s
        for s in backend.services.values()
        if s.cluster_name == cluster.name and s.status == "ACTIVE"
    ]


def _instances(backend, cluster):
    return backend.container_instances.get(cluster.name, {})


def _distinct(service):
    constraints = getattr(service, "placement_constraints", None) or []
    return any(c.get("type") == "distinctInstance" for c in constraints)


def _uses_provider(backend, cluster, service, provider_name):
    strategy = getattr(service, "capacity_provider_strategy", None) or []
    if strategy:
        return any(item.get("capacityProvider") == provider_name for item in strategy)
    if service.launch_type:
        return False
    default = cluster.default_capacity_provider_strategy or []
    return any(item.get("capacityProvider") == provider_name for item in default)


def schedule(backend, cluster):
    """Places every service's tasks on the cluster's instances; see the module doc."""
    instances = _instances(backend, cluster)
    tasks = _tasks(cluster)
    for gone in [i for i in tasks if i not in instances]:
        del tasks[gone]
    for instance_id in instances:
        tasks.setdefault(instance_id, set())
    services = _services(backend, cluster)
    daemons = {s.name for s in services if s.scheduling_strategy == "DAEMON"}
    active = [i for i, inst in instances.items() if inst.status == "ACTIVE"]
    for service in services:
        placed_on = [i for i, names in tasks.items() if service.name in names]
        if service.scheduling_strategy == "DAEMON":
            for instance_id in active:
                tasks[instance_id].add(service.name)
            for instance_id in placed_on:
                if instances[instance_id].status != "ACTIVE" and not (
                    tasks[instance_id] - daemons
                ):
                    _stop(cluster, tasks, instance_id, service.name)
            service.desired_count = len(active)
        else:
            for instance_id in placed_on:
                if instances[instance_id].status != "ACTIVE":
                    _stop(cluster, tasks, instance_id, service.name)
            placed = [i for i in active if service.name in tasks[i]]
            while len(placed) > service.desired_count:
                _stop(cluster, tasks, placed.pop(), service.name)
            free = [i for i in active if service.name not in tasks[i]]
            if not _distinct(service):
                free.sort(key=lambda i: len(tasks[i]))
            while len(placed) < service.desired_count and free:
                instance_id = free.pop(0)
                tasks[instance_id].add(service.name)
                placed.append(instance_id)
                if not _distinct(service):
                    free.append(instance_id)
                    free.sort(key=lambda i: len(tasks[i]))
        running = sum(1 for names in tasks.values() if service.name in names)
        service.running_count = running
        service.pending_count = max(service.desired_count - running, 0)
        if service.deployments:
            primary = service.deployments[0]
            primary.update(
                {
                    "desiredCount": service.desired_count,
                    "runningCount": running,
                    "pendingCount": service.pending_count,
                    "rolloutState": "COMPLETED"
                    if running == service.desired_count
                    else "IN_PROGRESS",
                }
            )
    for instance_id, names in tasks.items():
        instances[instance_id].running_tasks_count = len(names)


def _stop(cluster, tasks, instance_id, service_name):
    tasks[instance_id].discard(service_name)
    _timeline(cluster).append(
        {"event": "TaskStopped", "service": service_name, "containerInstance": instance_id}
    )


def _schedules(cluster):
    return bool(cluster.capacity_providers)


def reschedule(cluster_name, backend):
    cluster = backend.clusters.get(cluster_name.split("/")[-1])
    if cluster is not None and _schedules(cluster):
        schedule(backend, cluster)


_original_update_state = ecs_models.EC2ContainerServiceBackend.update_container_instances_state


def update_container_instances_state(self, cluster_str, ids, status):
    result = _original_update_state(self, cluster_str, ids, status)
    reschedule(cluster_str, self)
    return result


ecs_models.EC2ContainerServiceBackend.update_container_instances_state = (
    update_container_instances_state
)


# --- Cluster auto scaling ---------------------------------------------------------------


def _group(region, provider):
    arn = provider.auto_scaling_group_provider["autoScalingGroupArn"]
    name = arn.split("autoScalingGroupName/")[-1]
    return autoscaling_backends[ACCOUNT][region].autoscaling_groups[name]


def _join(backend, cluster, group, provider):
    registered = {i.ec2_instance_id: key for key, i in _instances(backend, cluster).items()}
    for state in group.instance_states:
        if state.instance.id not in registered:
            _register(backend, cluster, state.instance.id, provider.name)


def join(region, cluster_name):
    """The groups' instances that are not registered yet register, as the agent does."""
    backend = ecs_backends[ACCOUNT][region]
    cluster = backend._get_cluster(cluster_name)
    for provider in list(_providers(backend, cluster)):
        if provider.auto_scaling_group_provider:
            _join(backend, cluster, _group(region, provider), provider)
    schedule(backend, cluster)
    return [i.container_instance_arn for i in _instances(backend, cluster).values()]


def interval(region, cluster_name):
    backend = ecs_backends[ACCOUNT][region]
    cluster = backend._get_cluster(cluster_name)
    report = []
    for provider in list(_providers(backend, cluster)):
        group_provider = provider.auto_scaling_group_provider
        if not group_provider:
            continue
        scaling = group_provider.get("managedScaling") or {}
        if scaling.get("status") != "ENABLED":
            continue
        group = _group(region, provider)
        _join(backend, cluster, group, provider)
        schedule(backend, cluster)
        report.append(_scale(region, backend, cluster, provider, group, scaling))
    return report


def _scale(region, backend, cluster, provider, group, scaling):
    instances = _instances(backend, cluster)
    tasks = _tasks(cluster)
    by_ec2 = {inst.ec2_instance_id: key for key, inst in instances.items()}
    members = [by_ec2[s.instance.id] for s in group.instance_states if s.instance.id in by_ec2]
    services = _services(backend, cluster)
    daemons = {s.name for s in services if s.scheduling_strategy == "DAEMON"}
    busy = [i for i in members if tasks.get(i, set()) - daemons]
    waiting = [
        s.pending_count
        for s in services
        if s.scheduling_strategy != "DAEMON" and _uses_provider(backend, cluster, s, provider.name)
    ]
    n = len(group.instance_states)
    m = len(busy)
    if any(waiting):
        m = max(n + 1, n + max(waiting))
    if n == 0:
        reservation = 100 if m == 0 else 200
    else:
        reservation = m * 100 / n
    target = scaling.get("targetCapacity", 100)
    desired = math.ceil(m * 100 / target) if m else 0
    step_min = scaling.get("minimumScalingStepSize", 1)
    step_max = scaling.get("maximumScalingStepSize", 10000)
    if desired != n:
        change = min(max(abs(desired - n), step_min), step_max)
        desired = n + change if desired > n else n - change
    desired = min(max(desired, group.min_size), group.max_size)
    protection = group_provider_flag(provider, "managedTerminationProtection")
    busy_ec2 = {instances[i].ec2_instance_id for i in busy}
    for state in group.instance_states:
        state.protected_from_scale_in = protection and state.instance.id in busy_ec2
    if desired > n:
        group.set_desired_capacity(desired)
        _join(backend, cluster, group, provider)
        schedule(backend, cluster)
    elif desired < n:
        victims = [s.instance.id for s in group.instance_states if not s.protected_from_scale_in]
        for instance_id in victims[: n - desired]:
            _retire(region, backend, cluster, provider, by_ec2.get(instance_id), instance_id)
    return {
        "capacityProvider": provider.name,
        "n": n,
        "m": m,
        "reservation": reservation,
        "desiredCapacity": len(group.instance_states),
    }


def group_provider_flag(provider, flag):
    return (provider.auto_scaling_group_provider or {}).get(flag) == "ENABLED"


def _retire(region, backend, cluster, provider, container_instance, ec2_instance_id):
    """Managed draining: drain, stop every task (daemon tasks last), then terminate."""
    if container_instance is not None:
        if group_provider_flag(provider, "managedDraining"):
            instances = _instances(backend, cluster)
            instances[container_instance].status = "DRAINING"
            schedule(backend, cluster)
            # The REPLICA tasks moved; the daemon tasks stop once nothing else runs.
            schedule(backend, cluster)
        backend.deregister_container_instance(cluster.name, container_instance, True)
        schedule(backend, cluster)
    autoscaling_backends[ACCOUNT][region].terminate_instance(ec2_instance_id, True)
    _timeline(cluster).append({"event": "InstanceTerminated", "ec2InstanceId": ec2_instance_id, "containerInstance": container_instance})


def launch_managed_instances(region, cluster_name, provider_name, count):
    backend = ecs_backends[ACCOUNT][region]
    cluster = backend._get_cluster(cluster_name)
    provider = backend.capacity_providers[provider_name]
    if provider.type != "MANAGED_INSTANCES":
        raise ValueError(f"{provider_name} is not a Managed Instances capacity provider")
    ec2 = ec2_backends[ACCOUNT][region]
    reservation = ec2.run_instances(
        "ami-760aaa0f", count, None, [], instance_type="t3.medium", is_instance_type_default=True
    )
    arns = []
    for instance in reservation.instances:
        arns.append(_register(backend, cluster, instance.id, provider_name).container_instance_arn)
    schedule(backend, cluster)
    return arns


# --- Managed Daemons ------------------------------------------------------------------


def _store(backend):
    if not hasattr(backend, "_ecsfleet_daemons"):
        backend._ecsfleet_daemons = {
            "definitions": {},  # family -> [definition dict]
            "daemons": {},  # arn -> daemon dict
            "deployments": {},  # arn -> deployment dict
            "revisions": {},  # arn -> revision dict
            "tags": {},  # arn -> [tags]
            "tokens": {},  # client token -> daemon arn
        }
    return backend._ecsfleet_daemons


def _definition(store, reference):
    name = reference.split("/")[-1]
    family, _, revision = name.partition(":")
    revisions = store["definitions"].get(family) or []
    if revision:
        found = [d for d in revisions if d["revision"] == int(revision)]
    else:
        found = revisions[-1:]
    if not found:
        raise _Error("ClientException", f"Unable to describe daemon task definition {reference}.")
    return found[0]


def _daemon(store, arn):
    daemon = store["daemons"].get(arn)
    if daemon is None:
        raise _Error("DaemonNotFoundException", f"Daemon {arn} not found.")
    return daemon


def _running(backend, daemon):
    cluster = backend.clusters.get(daemon["clusterArn"].split("/")[-1])
    names = {arn.split("/")[-1] for arn in daemon["capacityProviderArns"]}
    if cluster is None:
        return {}
    counts = {}
    for instance in _instances(backend, cluster).values():
        if instance.status == "ACTIVE" and instance.capacity_provider_name in names:
            counts[instance.capacity_provider_name] = counts.get(instance.capacity_provider_name, 0) + 1
    return counts


def _deploy(backend, store, daemon, definition_arn, providers, configuration=None):
    region = backend.region_name
    cluster_name = daemon["clusterArn"].split("/")[-1]
    revision_arn = f"arn:aws:ecs:{region}:{ACCOUNT}:daemon-revision/{cluster_name}/{daemon['name']}/{uuid.uuid4().hex[:12]}"
    store["revisions"][revision_arn] = {
        "daemonRevisionArn": revision_arn,
        "clusterArn": daemon["clusterArn"],
        "daemonArn": daemon["daemonArn"],
        "daemonTaskDefinitionArn": definition_arn,
        "createdAt": _now(),
    }
    daemon["revision"] = revision_arn
    daemon["capacityProviderArns"] = sorted(providers)
    deployment_arn = f"arn:aws:ecs:{region}:{ACCOUNT}:daemon-deployment/{cluster_name}/{daemon['name']}/{uuid.uuid4().hex[:12]}"
    running = _running(backend, daemon)
    store["deployments"][deployment_arn] = {
        "daemonDeploymentArn": deployment_arn,
        "clusterArn": daemon["clusterArn"],
        "status": "SUCCESSFUL",
        "targetDaemonRevision": {
            "arn": revision_arn,
            "capacityProviders": [
                {
                    "arn": arn,
                    "runningInstanceCount": running.get(arn.split("/")[-1], 0),
                    "withoutDaemonInstanceCount": 0,
                    "drainingInstanceCount": 0,
                }
                for arn in daemon["capacityProviderArns"]
            ],
            "totalRunningInstanceCount": sum(running.values()),
            "totalWithoutDaemonInstanceCount": 0,
            "totalDrainingInstanceCount": 0,
        },
        "createdAt": _now(),
        "startedAt": _now(),
        "finishedAt": _now(),
    }
    if configuration:
        # As the deployment describes what it was asked to roll out with.
        store["deployments"][deployment_arn]["deploymentConfiguration"] = configuration
    daemon["deploymentArn"] = deployment_arn
    daemon["updatedAt"] = _now()
    return deployment_arn


def _check_providers(backend, arns):
    for arn in arns:
        provider = backend._get_provider(arn)
        if provider is None or provider.type != "MANAGED_INSTANCES":
            raise _Error(
                "InvalidParameterException",
                "ECS Managed Daemons is only supported for Amazon ECS Managed Instances Capacity Providers.",
            )


def register_daemon_task_definition(self):
    store = _store(self.ecs_backend)
    family = self._get_param("family")
    revisions = store["definitions"].setdefault(family, [])
    revision = (revisions[-1]["revision"] if revisions else 0) + 1
    arn = f"arn:aws:ecs:{self.region}:{self.current_account}:daemon-task-definition/{family}:{revision}"
    # Every member of the request is kept, as ECS describes it back.
    request = {k: v for k, v in json.loads(self.body or "{}").items() if k != "tags"}
    definition = {
        **request,
        "daemonTaskDefinitionArn": arn,
        "revision": revision,
        "volumes": request.get("volumes") or [],
        "status": "ACTIVE",
        "registeredAt": _now(),
    }
    revisions.append(definition)
    store["tags"][arn] = self._get_param("tags") or []
    return ActionResult({"daemonTaskDefinitionArn": arn})


def describe_daemon_task_definition(self):
    store = _store(self.ecs_backend)
    definition = _definition(store, self._get_param("daemonTaskDefinition"))
    return ActionResult({"daemonTaskDefinition": {k: v for k, v in definition.items() if v is not None}})


def list_daemon_task_definitions(self):
    store = _store(self.ecs_backend)
    family = self._get_param("family")
    prefix = self._get_param("familyPrefix") or ""
    listed = [
        {"arn": d["daemonTaskDefinitionArn"], "registeredAt": d["registeredAt"], "status": d["status"]}
        for name, revisions in sorted(store["definitions"].items())
        if (family is None or name == family) and name.startswith(prefix)
        for d in revisions
    ]
    return ActionResult({"daemonTaskDefinitions": listed})


def create_daemon(self):
    backend = self.ecs_backend
    store = _store(backend)
    token = self._get_param("clientToken")
    if token and token in store["tokens"]:
        daemon = store["daemons"].get(store["tokens"][token])
        if daemon is not None:
            return ActionResult(_answer(daemon))
    cluster = backend._get_cluster(self._get_param("clusterArn") or "default")
    name = self._get_param("daemonName")
    arn = f"arn:aws:ecs:{self.region}:{self.current_account}:daemon/{cluster.name}/{name}"
    if arn in store["daemons"]:
        raise _Error("InvalidParameterException", f"Daemon {name} already exists in cluster {cluster.name}.")
    providers = self._get_param("capacityProviderArns") or []
    _check_providers(backend, providers)
    definition = _definition(store, self._get_param("daemonTaskDefinitionArn"))
    daemon = {
        "daemonArn": arn,
        "name": name,
        "clusterArn": cluster.arn,
        "status": "ACTIVE",
        "createdAt": _now(),
    }
    store["daemons"][arn] = daemon
    store["tags"][arn] = self._get_param("tags") or []
    if token:
        store["tokens"][token] = arn
    _deploy(
        backend,
        store,
        daemon,
        definition["daemonTaskDefinitionArn"],
        providers,
        self._get_param("deploymentConfiguration"),
    )
    return ActionResult(_answer(daemon))


def _answer(daemon):
    return {
        "daemonArn": daemon["daemonArn"],
        "status": daemon["status"],
        "createdAt": daemon["createdAt"],
        "updatedAt": daemon.get("updatedAt"),
        "deploymentArn": daemon.get("deploymentArn"),
    }


def describe_daemon(self):
    backend = self.ecs_backend
    daemon = _daemon(_store(backend), self._get_param("daemonArn"))
    running = _running(backend, daemon)
    detail = dict(_answer(daemon))
    detail["clusterArn"] = daemon["clusterArn"]
    detail["currentRevisions"] = [
        {
            "arn": daemon["revision"],
            "capacityProviders": [
                {"arn": arn, "runningCount": running.get(arn.split("/")[-1], 0), "withoutDaemonCount": 0}
                for arn in daemon["capacityProviderArns"]
            ],
            "totalRunningCount": sum(running.values()),
            "totalWithoutDaemonCount": 0,
        }
    ]
    return ActionResult({"daemon": detail})


def list_daemons(self):
    store = _store(self.ecs_backend)
    cluster = self._get_param("clusterArn")
    summaries = [
        {"daemonArn": d["daemonArn"], "status": d["status"], "createdAt": d["createdAt"]}
        for d in store["daemons"].values()
        if cluster is None or d["clusterArn"] == cluster or d["clusterArn"].endswith("/" + cluster)
    ]
    return ActionResult({"daemonSummariesList": summaries})


def update_daemon(self):
    backend = self.ecs_backend
    store = _store(backend)
    daemon = _daemon(store, self._get_param("daemonArn"))
    providers = self._get_param("capacityProviderArns") or []
    _check_providers(backend, providers)
    definition = _definition(store, self._get_param("daemonTaskDefinitionArn"))
    _deploy(
        backend,
        store,
        daemon,
        definition["daemonTaskDefinitionArn"],
        providers,
        self._get_param("deploymentConfiguration"),
    )
    return ActionResult(_answer(daemon))


def delete_daemon(self):
    store = _store(self.ecs_backend)
    daemon = _daemon(store, self._get_param("daemonArn"))
    del store["daemons"][daemon["daemonArn"]]
    answer = _answer(daemon)
    answer["status"] = "DELETE_IN_PROGRESS"
    return ActionResult(answer)


def describe_daemon_deployments(self):
    store = _store(self.ecs_backend)
    arns = self._get_param("daemonDeploymentArns") or []
    found = [store["deployments"][a] for a in arns if a in store["deployments"]]
    failures = [{"arn": a, "reason": "MISSING"} for a in arns if a not in store["deployments"]]
    return ActionResult({"daemonDeployments": found, "failures": failures})


def describe_daemon_revisions(self):
    store = _store(self.ecs_backend)
    arns = self._get_param("daemonRevisionArns") or []
    found = [store["revisions"][a] for a in arns if a in store["revisions"]]
    failures = [{"arn": a, "reason": "MISSING"} for a in arns if a not in store["revisions"]]
    return ActionResult({"daemonRevisions": found, "failures": failures})


for _name, _method in [
    ("register_daemon_task_definition", register_daemon_task_definition),
    ("describe_daemon_task_definition", describe_daemon_task_definition),
    ("list_daemon_task_definitions", list_daemon_task_definitions),
    ("create_daemon", create_daemon),
    ("describe_daemon", describe_daemon),
    ("list_daemons", list_daemons),
    ("update_daemon", update_daemon),
    ("delete_daemon", delete_daemon),
    ("describe_daemon_deployments", describe_daemon_deployments),
    ("describe_daemon_revisions", describe_daemon_revisions),
]:
    setattr(ecs_responses.EC2ContainerServiceResponse, _name, _method)


def _daemon_tags(backend, arn):
    store = _store(backend)
    if ":daemon/" in arn or ":daemon-task-definition/" in arn:
        if arn not in store["tags"]:
            raise _Error("InvalidParameterException", "The specified resource could not be found.")
        return store["tags"][arn]
    return None


_original_list_tags = ecs_models.EC2ContainerServiceBackend.list_tags_for_resource
_original_tag_resource = ecs_models.EC2ContainerServiceBackend.tag_resource


def list_tags_for_resource(self, resource_arn):
    tags = _daemon_tags(self, resource_arn)
    return _original_list_tags(self, resource_arn) if tags is None else tags


def tag_resource(self, resource_arn, tags):
    existing = _daemon_tags(self, resource_arn)
    if existing is None:
        return _original_tag_resource(self, resource_arn, tags)
    merged = {t["key"]: t["value"] for t in existing}
    merged.update(tags)
    _store(self)["tags"][resource_arn] = [{"key": k, "value": v} for k, v in merged.items()]


ecs_models.EC2ContainerServiceBackend.list_tags_for_resource = list_tags_for_resource
ecs_models.EC2ContainerServiceBackend.tag_resource = tag_resource


# --- Control endpoints ------------------------------------------------------------------


def control(environ, start_response):
    """Answers /_ecsfleet/... requests; None for any other path."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/_ecsfleet/"):
        return None
    try:
        if path == "/_ecsfleet/timeline":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            backend = ecs_backends[ACCOUNT][query["region"][0]]
            answer = _timeline(backend._get_cluster(query["cluster"][0]))
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            if path == "/_ecsfleet/cluster-auto-scaling":
                answer = [
                    interval(body["region"], body["cluster"])
                    for _ in range(int(body.get("intervals", 1)))
                ]
            elif path == "/_ecsfleet/join":
                answer = join(body["region"], body["cluster"])
            elif path == "/_ecsfleet/managed-instances":
                answer = launch_managed_instances(
                    body["region"], body["cluster"], body["capacityProvider"], int(body.get("count", 1))
                )
            else:
                raise KeyError(path)
        status, data = "200 OK", json.dumps(answer, default=str).encode()
    except Exception as error:  # answered, so that a test sees why
        status, data = "400 Bad Request", json.dumps({"error": repr(error)}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
