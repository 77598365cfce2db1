"""The WORM policy calls through the real azure-mgmt-storage client against a transport-level
double of the ARM endpoint (Azurite answers 501 to these), checking the wire format both ways."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.storage import StorageManagementClient
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.response import HTTPResponse
from warden_audit.adapters.azure_immutability import ContainerRef, apply_retention, retention_problems

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
REF = ContainerRef("rg-warden", "wardenaudit", "audit")
POLICY_PATH = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-warden/providers/Microsoft.Storage/storageAccounts/"
    "wardenaudit/blobServices/default/containers/audit/immutabilityPolicies/default"
)


class StaticToken:
    """Entra at the boundary: a bearer token the double accepts."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("test-token", int(time.time()) + 3600)


class ArmImmutabilityDouble(BaseAdapter):
    """Speaks the documented ARM wire format for one container's immutability policy."""

    def __init__(self) -> None:
        super().__init__()
        self.policy: dict[str, Any] | None = None
        self.etag = 0
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []

    def _answer(self, request: requests.PreparedRequest, status: int, body: dict[str, Any]) -> requests.Response:
        content = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "ETag": f'"{self.etag}"', "Content-Length": str(len(content))}
        response = requests.Response()
        response.status_code = status
        response.raw = HTTPResponse(body=io.BytesIO(content), headers=headers, status=status, preload_content=False)
        response._content = content
        response.headers = CaseInsensitiveDict(headers)
        response.url = str(request.url)
        response.request = request
        return response

    def _resource(self) -> dict[str, Any]:
        assert self.policy is not None
        return {
            "id": POLICY_PATH,
            "name": "default",
            "type": "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies",
            "etag": f'"{self.etag}"',
            "properties": self.policy,
        }

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = requests.utils.urlparse(str(request.url))
        body = json.loads(request.body) if request.body else None
        self.requests.append((str(request.method), url.path, body))
        assert request.headers["Authorization"] == "Bearer test-token"
        assert "api-version=" in url.query
        if url.path == POLICY_PATH and request.method == "PUT":
            assert body is not None
            if self.policy is not None and self.policy["state"] == "Locked":
                days = body["properties"]["immutabilityPeriodSinceCreationInDays"]
                if days < self.policy["immutabilityPeriodSinceCreationInDays"]:
                    return self._answer(request, 409, {"error": {"code": "ContainerImmutabilityPolicyLocked"}})
            self.etag += 1
            self.policy = {**body["properties"], "state": (self.policy or {}).get("state", "Unlocked")}
            return self._answer(request, 200, self._resource())
        if url.path == POLICY_PATH + "/lock" and request.method == "POST":
            if request.headers.get("If-Match") != f'"{self.etag}"':
                return self._answer(request, 412, {"error": {"code": "ConditionNotMet"}})
            assert self.policy is not None
            self.etag += 1
            self.policy["state"] = "Locked"
            return self._answer(request, 200, self._resource())
        if url.path == POLICY_PATH and request.method == "GET":
            return self._answer(request, 200, self._resource())
        return self._answer(request, 404, {"error": {"code": "NotFound", "message": url.path}})

    def close(self) -> None:
        return None


@pytest.fixture
def arm() -> tuple[StorageManagementClient, ArmImmutabilityDouble]:
    double = ArmImmutabilityDouble()
    session = requests.Session()
    session.mount("https://", double)
    client = StorageManagementClient(
        StaticToken(),  # type: ignore[arg-type]
        SUBSCRIPTION,
        transport=RequestsTransport(session=session, session_owner=False),
        retry_total=0,
    )
    return client, double


def test_retention_with_protected_appends_is_created_and_locked(
    arm: tuple[StorageManagementClient, ArmImmutabilityDouble],
) -> None:
    client, double = arm
    state = apply_retention(client, REF, 2555, lock=True)
    assert (state.days, state.state, state.protected_appends) == (2555, "Locked", True)
    (put_method, put_path, put_body), (lock_method, lock_path, _) = double.requests
    assert (put_method, put_path) == ("PUT", POLICY_PATH)
    assert put_body == {
        "properties": {"immutabilityPeriodSinceCreationInDays": 2555, "allowProtectedAppendWrites": True}
    }
    assert (lock_method, lock_path) == ("POST", POLICY_PATH + "/lock")
    assert retention_problems(client, REF, 365) == []


def test_an_unlocked_or_short_policy_is_reported(arm: tuple[StorageManagementClient, ArmImmutabilityDouble]) -> None:
    client, _ = arm
    apply_retention(client, REF, 30)
    problems = retention_problems(client, REF, 365)
    assert problems == [
        "retention is 30 days, below the required 365",
        "the policy is not locked: an account admin could still shorten or delete it",
    ]


def test_a_locked_policy_cannot_be_shortened(arm: tuple[StorageManagementClient, ArmImmutabilityDouble]) -> None:
    client, _ = arm
    apply_retention(client, REF, 400, lock=True)
    with pytest.raises(HttpResponseError) as caught:
        apply_retention(client, REF, 10)
    assert caught.value.status_code == 409
    assert apply_retention(client, REF, 500).days == 500  # extending stays possible
