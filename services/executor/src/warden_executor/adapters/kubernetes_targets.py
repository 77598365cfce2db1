"""TargetProvider for AKS workloads through the Kubernetes API: deployment scale, rollout
restart and rollout undo, addressed as `namespace/deployment`.

The same operations `kubectl scale`, `kubectl rollout restart` and `kubectl rollout undo
--to-revision` perform, as API calls: patch `/scale`, patch the pod template's `restartedAt`
annotation, and copy an earlier ReplicaSet's pod template back into the deployment. The client
is synchronous (urllib3), so every call runs in a worker thread. Parameters are checked against
the catalog first.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiClient, AppsV1Api
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError
from warden_contracts.catalog import Catalog

from warden_executor.domain.model import ActResult, Grant, TargetActionFailed, TargetNotFound, TargetUnavailable

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
KINDS = frozenset({"restart_service", "scale_service", "rollback_deployment"})


def split_target(target: str) -> tuple[str, str]:
    namespace, _, name = target.partition("/")
    if not namespace or not name or "/" in name:
        raise TargetNotFound(f"{target!r} is not namespace/deployment")
    return namespace, name


def image_version(template: dict[str, Any]) -> str | None:
    """The version a pod template runs: the tag of its first container's image."""
    containers = (template.get("spec") or {}).get("containers") or []
    image = containers[0].get("image", "") if containers else ""
    _, sep, tag = image.rpartition(":")
    return tag if sep and "/" not in tag else None


class KubernetesDeploymentProvider:
    def __init__(self, api: ApiClient, catalog: Catalog) -> None:
        self._api, self._apps, self._catalog = api, AppsV1Api(api), catalog

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ApiException as err:
            if err.status == 404:
                raise TargetNotFound(f"{what}: not found") from err
            raise TargetUnavailable(f"{what}: HTTP {err.status}: {err.reason}") from err
        except HTTPError as err:
            raise TargetUnavailable(f"{what}: {err!r}") from err

    async def _deployment(self, namespace: str, name: str) -> dict[str, Any]:
        dep = await self._call(f"GET {namespace}/{name}", self._apps.read_namespaced_deployment, name, namespace)
        return dict(self._api.sanitize_for_serialization(dep))

    async def observe(self, target: str) -> dict[str, Any]:
        namespace, name = split_target(target)
        dep = await self._deployment(namespace, name)
        spec, status = dep.get("spec") or {}, dep.get("status") or {}
        wanted = int(spec.get("replicas") or 0)
        ready, updated = int(status.get("readyReplicas") or 0), int(status.get("updatedReplicas") or 0)
        return {
            "name": target,
            "replicas": wanted,
            "ready_replicas": ready,
            "version": image_version(spec.get("template") or {}),
            "revision": (dep.get("metadata") or {}).get("annotations", {}).get(REVISION),
            # Healthy once the rollout is complete: every wanted replica updated and ready.
            "healthy": int(wanted > 0 and ready >= wanted and updated >= wanted),
        }

    async def act(self, kind: str, target: str, params: dict[str, Any], grant: Grant) -> ActResult:
        problems = self._catalog.check(kind, target, params)
        if problems:
            raise TargetActionFailed(f"{kind} on {target} refused: {'; '.join(problems)}")
        if kind not in KINDS:
            raise TargetActionFailed(f"{kind} is not supported on Kubernetes deployments")
        namespace, name = split_target(target)
        before = await self.observe(target)
        try:
            if kind == "scale_service":
                body: dict[str, Any] = {"spec": {"replicas": int(params["replicas"])}}
                await self._call(target, self._apps.patch_namespaced_deployment_scale, name, namespace, body)
            elif kind == "restart_service":
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
                await self._call(target, self._apps.patch_namespaced_deployment, name, namespace, body)
            else:
                await self._undo_to(namespace, name, str(params["to_version"]))
        except TargetUnavailable as err:
            raise TargetActionFailed(f"{kind} on {target}: {err}") from err
        return ActResult(before=before, after=await self.observe(target))

    async def _undo_to(self, namespace: str, name: str, version: str) -> None:
        """`kubectl rollout undo`: the newest earlier ReplicaSet running `version` becomes the template."""
        dep = await self._deployment(namespace, name)
        selector = ",".join(f"{k}={v}" for k, v in sorted(dep["spec"]["selector"].get("matchLabels", {}).items()))
        listed = await self._call(
            f"{namespace}/{name} replica sets",
            self._apps.list_namespaced_replica_set,
            namespace,
            label_selector=selector,
        )
        sets = [dict(self._api.sanitize_for_serialization(rs)) for rs in listed.items]
        owned = [rs for rs in sets if _owned_by(rs, name) and image_version(rs["spec"]["template"]) == version]
        if not owned:
            raise TargetActionFailed(f"{namespace}/{name} has no earlier revision running {version}")
        chosen = max(owned, key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION, "0")))
        template = copy.deepcopy(chosen["spec"]["template"])
        template.get("metadata", {}).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
        body = {"spec": {"template": template}}
        await self._call(f"{namespace}/{name}", self._apps.patch_namespaced_deployment, name, namespace, body)


def _owned_by(replica_set: dict[str, Any], deployment: str) -> bool:
    owners = replica_set["metadata"].get("ownerReferences") or []
    return any(o.get("kind") == "Deployment" and o.get("name") == deployment for o in owners)
