"""`kubectl kustomize` for the subset of kustomize that deploy/kubernetes uses, in Python, so
the manifests are rendered and validated with no cluster tool installed (Debian's kubectl is
years old and PyPI has no kustomize). A kustomization using anything else is refused, not
rendered differently: `resources` (files and directories), `namespace`, `labels` (metadata
only), `images`, `replicas` and strategic-merge `patches` by path. When written, its output
for both overlays was the same set of objects as kustomize v5.5's."""

import copy
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]

SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "resources", "images", "replicas"}
SUPPORTED |= {"patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


class Unsupported(ValueError):
    pass


def load_all(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def build(directory: Path) -> list[Object]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise Unsupported(f"{directory}: kustomization fields {sorted(unknown)} not rendered here")
    objects: list[Object] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        objects += build(path) if path.is_dir() else load_all(path)
    for patch_entry in spec.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise Unsupported(f"{directory}: only patches by path: {patch_entry}")
        for patch in load_all(directory / patch_entry["path"]):
            merge(_one(objects, patch["kind"], patch["metadata"]["name"]), patch)
    for label in spec.get("labels", []):
        if set(label) != {"pairs"}:
            raise Unsupported(f"{directory}: labels with {sorted(label)}")
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in spec.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                if container["image"].split(":")[0] == image["name"]:
                    name = image.get("newName", image["name"])
                    container["image"] = f"{name}:{image['newTag']}" if "newTag" in image else name
    for replicas in spec.get("replicas", []):
        obj = _one(objects, "Deployment", replicas["name"])
        obj["spec"]["replicas"] = replicas["count"]
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    return objects


def _one(objects: list[Object], kind: str, name: str) -> Object:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise Unsupported(f"{len(found)} {kind} named {name}")
    return found[0]


def _containers(obj: Object) -> list[Object]:
    if obj["kind"] not in POD_OWNERS:
        return []
    pod = obj["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def merge(target: Object, patch: Object) -> None:
    """Strategic merge as Kubernetes does it for the fields used here: maps merge, lists of
    named items (containers, env, volumes, ports by name) merge by name, other lists and
    scalars are replaced, null removes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        elif isinstance(value, list) and _named(value) and _named(target.get(key)):
            by_name = {item["name"]: item for item in target[key]}
            for item in value:
                if item["name"] in by_name:
                    merge(by_name[item["name"]], item)
                else:
                    target[key].append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def _named(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)
