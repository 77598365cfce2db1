"""The estate file `warden.yaml`: one versioned, cross-checked description of what Warden watches.

`load_estate(path)` parses, validates and cross-checks, raising `EstateInvalid` whose `problems`
each name the file, the line and the fix. `derive` turns an estate into the per-service
documents the services already read (sandbox estate, triage catalog, policy config, scheduler
tasks), so no service depends on this package.
"""

from warden_estate.loader import load_estate, parse_estate
from warden_estate.problems import EstateInvalid, Problem
from warden_estate.schema import Estate

__all__ = ["Estate", "EstateInvalid", "Problem", "load_estate", "parse_estate"]
