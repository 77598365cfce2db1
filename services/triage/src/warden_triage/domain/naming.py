"""Environment hints from Azure naming conventions, for resources the estate does not map.

Cloud Adoption Framework style names put the environment in a dash- or underscore-separated
token of the resource group or the resource (`rg-shop-prod`, `app-checkout-stg-weu`). A hint is
only ever shown to the responder (label `environment_hint`, the warden.yaml snippet): the alert's
environment stays `unknown` until the estate says otherwise, because a guess must never make an
unmapped resource look like dev (docs/alert-sources.md).
"""

from __future__ import annotations

import re

from warden_triage.domain.azure_monitor import ENVIRONMENT_SPELLINGS, resource_group_of

# The spellings an explicit environment tag is read with, here matched against name tokens.
TOKENS = ENVIRONMENT_SPELLINGS
# When tokens disagree the strictest wins: a hint must not understate what is at stake.
_RANK = {"dev": 0, "staging": 1, "prod": 2}
_SPLIT = re.compile(r"[-_.]")


def environment_hint(resource_id: str) -> str | None:
    """The environment the resource group and resource names suggest, or None."""
    group = resource_group_of(resource_id) or ""
    leaf = resource_id.rstrip("/").rsplit("/", 1)[-1]
    found = {TOKENS[t] for name in (group, leaf) for t in _SPLIT.split(name.lower()) if t in TOKENS}
    return max(found, key=_RANK.__getitem__) if found else None
