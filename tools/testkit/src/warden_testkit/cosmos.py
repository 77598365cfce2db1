"""For tests only: an HTTPS double of the Cosmos DB NoSQL gateway REST API on 127.0.0.1, for the
real `azure-cosmos` SDK (the Cosmos adapters of several services use it).

It speaks the documented wire format: account and container metadata, document create / read /
replace / upsert / delete with ETag preconditions (412) and conflicts (409), atomic transactional
batches, and queries whose WHERE clause is comparisons of a field with a parameter (`=`, `<`,
`<=`, `>`, `>=`) joined by AND (all the adapters issue); as in Cosmos DB, a range comparison of
values of different types (a string with a number, say) matches nothing. Tokens are checked as
Entra (AAD) bearer tokens; the SDK skips certificate checks for 127.0.0.1 (its emulator rule),
TLS stays on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKEN = "cosmos-test-token"
_CLAUSE = re.compile(r"^c\.(\w+)\s*(=|<=|>=|<|>)\s*(@\w+)$")
_ORDERED = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class StaticCredential:
    """Stands in for Entra ID (managed identity)."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        return None


@dataclass
class CosmosDouble:
    url: str = ""
    credential: StaticCredential = field(default_factory=StaticCredential)
    # (container, partition key, id) -> stored document with system properties
    documents: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    conflicts_on_replace: int = 0  # forced 412s, to exercise concurrency loops
    batches: list[tuple[str, list[str], bool]] = field(default_factory=list)  # (pk, operations, committed)
    queries: list[tuple[str, int]] = field(default_factory=list)  # (query text, documents returned)


def _tls(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cosmos.pem", tmp / "cosmos.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=_common())


def _common() -> dict[str, str]:
    return {"x-ms-request-charge": "1", "x-ms-activity-id": str(uuid.uuid4()), "x-ms-session-token": "0:1#1"}


def _partition(request: web.Request) -> str:
    raw = request.headers.get("x-ms-documentdb-partitionkey", "[]")
    values = json.loads(raw)
    return json.dumps(values[0]) if values else "null"


def _matches(doc: dict[str, Any], query: str, parameters: dict[str, Any]) -> bool:
    match = re.fullmatch(r"SELECT \* FROM c(?: WHERE (.+))?", query.strip())
    if match is None:
        raise ValueError(f"the double does not understand {query!r}")
    if not match.group(1):
        return True
    for clause in match.group(1).split(" AND "):
        parsed = _CLAUSE.match(clause.strip())
        if parsed is None:
            raise ValueError(f"the double does not understand the clause {clause!r}")
        name, operator, parameter = parsed.groups()
        if not _compares(doc.get(name), operator, parameters[parameter]):
            return False
    return True


def _compares(value: Any, operator: str, bound: Any) -> bool:
    if operator == "=":
        return bool(value == bound)
    comparable = (isinstance(value, str) and isinstance(bound, str)) or (
        isinstance(value, int | float)
        and isinstance(bound, int | float)
        and not isinstance(value, bool)
        and not isinstance(bound, bool)
    )
    return comparable and bool(_ORDERED[operator](value, bound))


def _app(db: CosmosDouble) -> web.Application:
    @web.middleware
    async def aad(request: web.Request, handler: Any) -> web.StreamResponse:
        db.requests.append((request.method, request.path))
        auth = urllib.parse.unquote(request.headers.get("authorization", ""))
        if auth != f"type=aad&ver=1.0&sig={TOKEN}":
            return _error(401, "Unauthorized", "expected an Entra ID token")
        return await handler(request)

    async def account(_: web.Request) -> web.Response:
        location = {"name": "local", "databaseAccountEndpoint": db.url + "/"}
        return web.json_response(
            {
                "id": "local",
                "_rid": "local.documents.azure.com",
                "_self": "",
                "writableLocations": [location],
                "readableLocations": [location],
                "enableMultipleWriteLocations": False,
                "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"},
                "systemReplicationPolicy": {"minReplicaSetSize": 1, "maxReplicasetSize": 1},
                "readPolicy": {"primaryReadCoefficient": 1, "secondaryReadCoefficient": 1},
                "queryEngineConfiguration": "{}",
            },
            headers=_common(),
        )

    async def container(request: web.Request) -> web.Response:
        name = request.match_info["coll"]
        return web.json_response(
            {
                "id": name,
                "_rid": "cnRpZA==",
                "_self": f"dbs/ZGI=/colls/{name}/",
                "partitionKey": {"paths": ["/pk"], "kind": "Hash", "version": 2},
            },
            headers=_common(),
        )

    async def ranges(_: web.Request) -> web.Response:
        body = {
            "PartitionKeyRanges": [{"id": "0", "minInclusive": "", "maxExclusive": "FF", "parents": []}],
            "_count": 1,
        }
        return web.json_response(body, headers=_common())

    def _stored(coll: str, doc: dict[str, Any]) -> dict[str, Any]:
        stored = {**doc, "_etag": f'"{uuid.uuid4()}"', "_ts": int(time.time()), "_rid": uuid.uuid4().hex[:8]}
        db.documents[(coll, json.dumps(doc.get("pk")), doc["id"])] = stored
        return stored

    def _reply(doc: dict[str, Any], status: int = 200) -> web.Response:
        return web.json_response(doc, status=status, headers={**_common(), "etag": doc["_etag"]})

    def _batch(coll: str, pk: str, ops: list[dict[str, Any]]) -> web.Response:
        """All or nothing: on the first failure nothing is applied, the rest answer 424."""
        before = dict(db.documents)
        results: list[dict[str, Any]] = []
        failed = False
        for op in ops:
            if failed:
                results.append({"statusCode": 424, "requestCharge": 0})
                continue
            kind = op["operationType"]
            doc_id = op.get("id") or op["resourceBody"]["id"]
            key = (coll, pk, doc_id)
            current = db.documents.get(key)
            status = 200
            if kind == "Create" and current is not None:
                status = 409
            elif kind in ("Replace", "Delete", "Read") and current is None:
                status = 404
            elif "ifMatch" in op and current is not None and op["ifMatch"] != current["_etag"]:
                status = 412
            if status >= 400:
                failed = True
                results.append({"statusCode": status, "requestCharge": 1})
                continue
            if kind == "Delete":
                del db.documents[key]
                results.append({"statusCode": 204, "requestCharge": 1})
            elif kind == "Read" and current is not None:
                results.append(
                    {"statusCode": 200, "requestCharge": 1, "resourceBody": current, "eTag": current["_etag"]}
                )
            else:
                stored = _stored(coll, op["resourceBody"])
                results.append(
                    {
                        "statusCode": 201 if kind == "Create" else 200,
                        "requestCharge": 1,
                        "resourceBody": stored,
                        "eTag": stored["_etag"],
                    }
                )
        if failed:
            db.documents.clear()
            db.documents.update(before)
            results = [r if r["statusCode"] >= 400 else {"statusCode": 424, "requestCharge": 0} for r in results]
        db.batches.append((pk, [op["operationType"] for op in ops], not failed))
        return web.json_response(results, status=207 if failed else 200, headers=_common())

    async def docs_post(request: web.Request) -> web.Response:
        coll = request.match_info["coll"]
        if request.headers.get("x-ms-cosmos-is-batch-request", "").lower() == "true":
            return _batch(coll, _partition(request), await request.json())
        if request.headers.get("x-ms-documentdb-isquery", "").lower() == "true":
            body = await request.json()
            params = {p["name"]: p["value"] for p in body.get("parameters", [])}
            pk = request.headers.get("x-ms-documentdb-partitionkey")
            found = [
                d
                for (c, p, _), d in db.documents.items()
                if c == coll and (pk is None or p == _partition(request)) and _matches(d, body["query"], params)
            ]
            db.queries.append((body["query"], len(found)))
            headers = {**_common(), "x-ms-item-count": str(len(found))}
            return web.json_response({"_rid": "cnRpZA==", "Documents": found, "_count": len(found)}, headers=headers)
        doc = await request.json()
        key = (coll, json.dumps(doc.get("pk")), doc["id"])
        upsert = request.headers.get("x-ms-documentdb-is-upsert", "").lower() == "true"
        if key in db.documents and not upsert:
            return _error(409, "Conflict", "Entity with the specified id already exists in the system.")
        return _reply(_stored(coll, doc), 200 if key in db.documents and upsert else 201)

    async def doc_get(request: web.Request) -> web.Response:
        key = (request.match_info["coll"], _partition(request), request.match_info["id"])
        if key not in db.documents:
            return _error(404, "NotFound", "Entity with the specified id does not exist in the system.")
        return _reply(db.documents[key])

    async def doc_put(request: web.Request) -> web.Response:
        coll, doc_id = request.match_info["coll"], request.match_info["id"]
        key = (coll, _partition(request), doc_id)
        if key not in db.documents:
            return _error(404, "NotFound", "Entity with the specified id does not exist in the system.")
        if_match = request.headers.get("if-match")
        if db.conflicts_on_replace > 0:
            db.conflicts_on_replace -= 1
            _stored(coll, {k: v for k, v in db.documents[key].items() if not k.startswith("_")})
        if if_match is not None and if_match != db.documents[key]["_etag"]:
            return _error(
                412,
                "PreconditionFailed",
                "Operation cannot be performed because one of the specified precondition is not met.",
            )
        return _reply(_stored(coll, await request.json()))

    async def doc_delete(request: web.Request) -> web.Response:
        key = (request.match_info["coll"], _partition(request), request.match_info["id"])
        if key not in db.documents:
            return _error(404, "NotFound", "Entity with the specified id does not exist in the system.")
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match != db.documents[key]["_etag"]:
            return _error(
                412,
                "PreconditionFailed",
                "Operation cannot be performed because one of the specified precondition is not met.",
            )
        del db.documents[key]
        return web.Response(status=204, headers=_common())

    app = web.Application(middlewares=[aad])
    base = "/dbs/{db}/colls/{coll}"
    routes = [
        ("GET", "/", account),
        ("GET", base, container),
        ("GET", base + "/pkranges", ranges),
        ("POST", base + "/docs", docs_post),
        ("GET", base + "/docs/{id}", doc_get),
        ("PUT", base + "/docs/{id}", doc_put),
        ("DELETE", base + "/docs/{id}", doc_delete),
    ]
    # The SDK addresses resources with and without a trailing slash.
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        if path != "/":
            app.router.add_route(method, path + "/", handler)
    return app


@asynccontextmanager
async def cosmos_double(tmp: Path) -> AsyncIterator[CosmosDouble]:
    double = CosmosDouble()
    runner = web.AppRunner(_app(double), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_tls(tmp))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    double.url = f"https://127.0.0.1:{port}"
    try:
        yield double
    finally:
        await runner.cleanup()
