"""The allow-list for domain code: the standard library, pydantic, the contracts package, and a
named few per service. Anything else a domain module imports directly (an SDK, a driver, a web or
storage library) belongs in an adapter behind a port; the import-linter contracts forbid the known
ones, this test refuses everything not listed."""

from __future__ import annotations

import sys
from functools import cache

import grimp
import pytest

DOMAINS = ["warden_triage", "warden_planner", "warden_policy", "warden_executor", "warden_audit", "warden_console"]
DOMAINS += ["warden_scheduler", "warden_sandbox"]
ALLOWED = {"pydantic", "warden_contracts"}
EXTRA = {
    # cron expressions are pure computation, no I/O
    "warden_scheduler": {"croniter"},
    # verifying what policy signed is the executor's admission rule itself
    "warden_executor": {"warden_security.action_signing", "warden_security.signatures"},
}


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*DOMAINS, "warden_contracts", "warden_security", include_external_packages=True)


def outside_imports(package: str) -> dict[str, set[str]]:
    domain = f"{package}.domain"
    found: dict[str, set[str]] = {}
    for module in graph().find_descendants(domain) | {domain}:
        for imported in graph().find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            if top == package or top in sys.stdlib_module_names or top == "__future__":
                continue
            found.setdefault(imported, set()).add(module)
    return found


@pytest.mark.parametrize("package", DOMAINS)
def test_domain_code_imports_only_what_the_allow_list_names(package: str) -> None:
    allowed = ALLOWED | EXTRA.get(package, set())

    def permitted(name: str) -> bool:
        return any(name == a or name.startswith(a + ".") for a in allowed)

    refused = {name: sorted(users) for name, users in outside_imports(package).items() if not permitted(name)}
    assert refused == {}, f"{package}.domain imports outside its allow-list (move them behind a port): {refused}"


def test_the_allow_list_sees_imports() -> None:
    # Not vacuous: every domain imports something outside itself that the allow-list has to admit.
    assert all(outside_imports(package) for package in DOMAINS)
    assert "croniter" in outside_imports("warden_scheduler")
