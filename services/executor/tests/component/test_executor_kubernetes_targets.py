"""AKS deployments through the real `kubernetes` client against a local double of the apps/v1
API (read deployment, patch scale, patch template, list replica sets)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from kubernetes.client import ApiClient, Configuration
from warden_contracts.catalog import default_catalog
from warden_executor.adapters.kubernetes_targets import RESTARTED_AT, KubernetesDeploymentProvider
from warden_executor.domain.model import TargetActionFailed, TargetNotFound

NS, NAME = "shop", "orders-api"
BASE = f"/apis/apps/v1/namespaces/{NS}"


def template(version: str, pod_hash: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": NAME, "pod-template-hash": pod_hash}},
        "spec": {"containers": [{"name": "api", "image": f"acr.example.io/orders-api:{version}"}]},
    }


@dataclass
class KubeDouble:
    replicas: int = 2
    current: dict[str, Any] = field(default_factory=lambda: template("v1.4.0", "bbb"))
    patches: list[tuple[str, str, Any]] = field(default_factory=list)
    replica_sets: list[dict[str, Any]] = field(
        default_factory=lambda: [
            _rs("orders-api-aaa", "1", template("v1.3.2", "aaa")),
            _rs("orders-api-bbb", "2", template("v1.4.0", "bbb")),
            _rs("other-zzz", "9", template("v1.3.2", "zzz"), owner="other"),
        ]
    )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"{BASE}/deployments/{{name}}", self.read)
        app.router.add_patch(f"{BASE}/deployments/{{name}}", self.patch)
        app.router.add_patch(f"{BASE}/deployments/{{name}}/scale", self.scale)
        app.router.add_get(f"{BASE}/replicasets", self.list_sets)
        return app

    def deployment(self) -> dict[str, Any]:
        tpl = copy.deepcopy(self.current)
        tpl["metadata"]["labels"].pop("pod-template-hash", None)
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, "namespace": NS, "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": {"app": NAME}}, "template": tpl},
            "status": {"replicas": self.replicas, "readyReplicas": self.replicas, "updatedReplicas": self.replicas},
        }

    def _check(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != "Bearer cluster-token":
            return web.json_response({"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401)
        if request.match_info.get("name", NAME) != NAME:
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"}, status=404)
        return None

    async def read(self, request: web.Request) -> web.Response:
        return self._check(request) or web.json_response(self.deployment())

    async def patch(self, request: web.Request) -> web.Response:
        if denied := self._check(request):
            return denied
        body = await request.json()
        self.patches.append((request.path, request.content_type, body))
        tpl = body["spec"]["template"]
        if "spec" in tpl:
            self.current = copy.deepcopy(tpl)
        else:
            self.current["metadata"].setdefault("annotations", {}).update(tpl["metadata"]["annotations"])
        return web.json_response(self.deployment())

    async def scale(self, request: web.Request) -> web.Response:
        if denied := self._check(request):
            return denied
        body = await request.json()
        self.patches.append((request.path, request.content_type, body))
        self.replicas = body["spec"]["replicas"]
        return web.json_response(
            {"kind": "Scale", "spec": {"replicas": self.replicas}, "status": {"replicas": self.replicas}}
        )

    async def list_sets(self, request: web.Request) -> web.Response:
        if denied := self._check(request):
            return denied
        assert request.query["labelSelector"] == f"app={NAME}"
        return web.json_response({"kind": "ReplicaSetList", "items": self.replica_sets})


def _rs(name: str, revision: str, tpl: dict[str, Any], owner: str = NAME) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": owner}],
        },
        "spec": {"selector": {"matchLabels": {"app": NAME}}, "template": tpl},
    }


@pytest.fixture
def cluster() -> KubeDouble:
    return KubeDouble()


@pytest.fixture
async def provider(cluster):
    runner = web.AppRunner(cluster.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    config = Configuration(host=f"http://127.0.0.1:{runner.addresses[0][1]}")
    config.api_key = {"authorization": "cluster-token"}
    config.api_key_prefix = {"authorization": "Bearer"}
    api = ApiClient(config)
    try:
        yield KubernetesDeploymentProvider(api, default_catalog())
    finally:
        api.close()
        await runner.cleanup()


TARGET = f"{NS}/{NAME}"


async def test_observe_reports_replicas_version_and_rollout_health(provider):
    view = await provider.observe(TARGET)
    assert (view["replicas"], view["version"], view["healthy"], view["revision"]) == (2, "v1.4.0", 1, "2")


async def test_scale_patches_the_scale_subresource(provider, cluster, kit):
    result = await provider.act("scale_service", TARGET, {"replicas": 5}, kit.grant())

    assert (result.before["replicas"], result.after["replicas"]) == (2, 5)
    [(path, _, body)] = cluster.patches
    assert path.endswith("/deployments/orders-api/scale") and body == {"spec": {"replicas": 5}}


async def test_rollout_restart_stamps_the_pod_template(provider, cluster, kit):
    await provider.act("restart_service", TARGET, {}, kit.grant())

    [(path, _, body)] = cluster.patches
    assert path.endswith("/deployments/orders-api")
    assert RESTARTED_AT in body["spec"]["template"]["metadata"]["annotations"]


async def test_rollout_undo_restores_the_earlier_replica_set_template(provider, cluster, kit):
    result = await provider.act("rollback_deployment", TARGET, {"to_version": "v1.3.2"}, kit.grant())

    assert (result.before["version"], result.after["version"]) == ("v1.4.0", "v1.3.2")
    [(_, _, body)] = cluster.patches
    assert "pod-template-hash" not in body["spec"]["template"]["metadata"]["labels"]  # as kubectl undo does


async def test_undo_to_a_version_never_deployed_here_is_refused(provider, cluster, kit):
    with pytest.raises(TargetActionFailed, match=re.escape("no earlier revision running v0.9")):
        await provider.act("rollback_deployment", TARGET, {"to_version": "v0.9"}, kit.grant())
    assert cluster.patches == []


@pytest.mark.parametrize(
    ("kind", "params", "reason"),
    [
        ("scale_service", {"replicas": 0}, "below the minimum 1"),
        ("scale_service", {"replicas": 50}, "above the maximum 10"),
        ("rollback_deployment", {"to_version": "latest; rm -rf"}, "does not match"),
        ("renew_certificate", {}, "not supported on Kubernetes"),
    ],
)
async def test_arguments_outside_the_catalog_never_reach_the_cluster(provider, cluster, kit, kind, params, reason):
    with pytest.raises(TargetActionFailed, match=reason):
        await provider.act(kind, TARGET, params, kit.grant())
    assert cluster.patches == []


async def test_do_not_touch_namespaces_are_refused(provider, kit):
    with pytest.raises(TargetActionFailed, match="do-not-touch"):
        await provider.act("restart_service", "kube-system/coredns", {}, kit.grant())


async def test_unknown_deployment_is_not_found(provider):
    with pytest.raises(TargetNotFound):
        await provider.observe(f"{NS}/nope")
    with pytest.raises(TargetNotFound, match="namespace/deployment"):
        await provider.observe("orders-api")
