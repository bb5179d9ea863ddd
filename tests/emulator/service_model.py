"""Prints the part of a pinned botocore service model that ecsfleet checks requests against.

    python service_model.py SERVICE OPERATION...

The shapes reachable from the operations' inputs, without documentation and the keys
that only concern code generators, as compact JSON with sorted keys (so the committed
copy, src/aws/models/, changes only when the model does). scripts/generate-crds writes
it; tests/aws/service_model.rs checks the committed copy is this output.
"""

import json
import sys

import botocore.session

# What a request check needs of a shape; everything else is left out.
KEPT = {"type", "members", "required", "member", "key", "value", "enum", "min", "max",
        "pattern", "union"}


def trimmed(service, operations):
    model = botocore.session.get_session().get_service_model(service)
    shapes = model._shape_resolver._shape_map
    out = {}

    def visit(name):
        if name in out:
            return
        shape = {k: v for k, v in shapes[name].items() if k in KEPT}
        if "members" in shape:
            shape["members"] = {m: {"shape": ref["shape"]} for m, ref in shape["members"].items()}
        for k in ("member", "key", "value"):
            if k in shape:
                shape[k] = {"shape": shape[k]["shape"]}
        out[name] = shape
        for ref in list(shape.get("members", {}).values()) + [
            shape[k] for k in ("member", "key", "value") if k in shape
        ]:
            visit(ref["shape"])

    roots = {}
    for operation in operations:
        root = model.operation_model(operation).input_shape.name
        roots[operation] = root
        visit(root)
    return {"operations": roots, "shapes": out}


if __name__ == "__main__":
    service, *operations = sys.argv[1:]
    json.dump(trimmed(service, operations), sys.stdout, sort_keys=True, separators=(",", ":"))
    sys.stdout.write("\n")
