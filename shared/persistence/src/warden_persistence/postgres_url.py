"""PostgreSQL store URLs, apart from the driver: every service checks its `*_store_url` at start,
and on the SQLite default psycopg is never imported (0.2-0.5 s of each start here)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in POSTGRES_SCHEMES


def split_schema(url: str, default: str = "public") -> tuple[str, str]:
    """(`url` without its `schema` parameter, the schema; `default` when absent)."""
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"unsupported store URL scheme {parts.scheme!r}: use postgresql://")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), (schemas[-1] if schemas and schemas[-1] else default)
