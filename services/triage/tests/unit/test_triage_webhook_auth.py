"""Webhook authenticators: bearer and HMAC with timestamp, replay refusal, bounded replay memory."""

from __future__ import annotations

from warden_triage.adapters.webhook_auth import BearerAuth, HmacAuth, sign

SECRET = "0123456789abcdef-secret"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signed(body: bytes, at: int, secret: str = SECRET) -> dict[str, str]:
    return {"X-Warden-Timestamp": str(at), "X-Warden-Signature": "sha256=" + sign(secret, at, body)}


def test_bearer() -> None:
    auth = BearerAuth("tok")
    assert auth.verify({"Authorization": "Bearer tok"}, b"") is None
    assert auth.verify({"Authorization": "bearer  tok "}, b"") is None
    assert auth.verify({"Authorization": "Bearer nope"}, b"") == "invalid bearer token"
    assert auth.verify({"Authorization": "Basic tok"}, b"") == "missing bearer token"
    assert auth.verify({}, b"") == "missing bearer token"


def test_hmac_accepts_once_within_tolerance_and_forgets_expired_signatures() -> None:
    clock = Clock(1_000_000.0)
    auth = HmacAuth(SECRET, tolerance_s=60, clock=clock)
    body = b'{"a": 1}'
    first = signed(body, 1_000_000)
    assert auth.verify(first, body) is None
    assert auth.verify(first, body) == "signature already used (replay)"
    assert auth.verify(signed(body, 1_000_001), body) is None  # a fresh timestamp is a new request
    unprefixed = {**signed(body, 1_000_002), "X-Warden-Signature": sign(SECRET, 1_000_002, body)}
    assert auth.verify(unprefixed, body) is None
    assert auth.verify(signed(body, 1_000_000 - 61), body) is not None  # too old
    assert auth.verify(signed(body, 1_000_000 + 61), body) is not None  # from the future
    assert auth.verify({"X-Warden-Timestamp": "soon", "X-Warden-Signature": "x"}, body) is not None
    assert auth.verify(signed(body, 1_000_003, secret="another-secret-123456"), body) is not None
    assert auth.verify(signed(b"other", 1_000_004), body) == "signature does not match the body"
    assert len(auth._seen) == 3
    clock.now += 500  # beyond twice the tolerance: every remembered signature has expired
    assert auth.verify(signed(body, int(clock.now)), body) is None
    assert len(auth._seen) == 1


def test_an_action_group_may_bring_the_token_in_the_query_on_the_azure_route_only() -> None:
    from warden_triage.adapters.webhook_auth import presented_headers

    auth = BearerAuth("tok")
    assert auth.verify(presented_headers("azure-monitor", {}, {"token": "tok"}), b"") is None
    assert auth.verify(presented_headers("azure-monitor", {}, {"token": "nope"}), b"") == "invalid bearer token"
    assert auth.verify(presented_headers("grafana", {}, {"token": "tok"}), b"") == "missing bearer token"
    assert auth.verify(presented_headers("prometheus", {}, {"token": "tok"}), b"") == "missing bearer token"
    # A header, when present, is what counts: the query cannot override a wrong one.
    wrong = presented_headers("azure-monitor", {"Authorization": "Bearer wrong"}, {"token": "tok"})
    assert auth.verify(wrong, b"") == "invalid bearer token"
