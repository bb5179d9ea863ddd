"""Starts moto's server with the small extensions ecsfleet's tests need.

moto 5.2.5 models ECS's API but not its scheduler, and drops a few request fields.
Each extension below fills one such gap, so that the emulator answers as AWS does;
none of them changes what moto already does right. ecsfleet itself is written for
real AWS and never depends on these extensions being present.

ECS
- CreateService: moto drops placementConstraints, placementStrategy,
  deploymentConfiguration and capacityProviderStrategy, so DescribeServices never
  echoes them (UpdateService already keeps them). They are stored on the service.
- The scheduler: moto never starts tasks or completes deployments. After
  CreateService and UpdateService the service settles as ECS's scheduler would once
  every task is placed: runningCount = desiredCount, pendingCount = 0, and one
  PRIMARY deployment of the current task definition in rolloutState COMPLETED.

Usage: python ecsfleet_moto.py --port PORT [--host 127.0.0.1]
"""

import argparse

from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses

_KEPT_ON_CREATE = {
    "placementConstraints": "placement_constraints",
    "placementStrategy": "placement_strategy",
    "deploymentConfiguration": "deployment_configuration",
    "capacityProviderStrategy": "capacity_provider_strategy",
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


ecs_responses.EC2ContainerServiceResponse.create_service = create_service
ecs_models.EC2ContainerServiceBackend.update_service = update_service


if __name__ == "__main__":
    from moto.server import main

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    main(["--host", args.host, "--port", str(args.port)])
