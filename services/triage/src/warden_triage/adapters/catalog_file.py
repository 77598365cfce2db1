"""Load the service catalog: the shipped `service_catalog.yaml` or an operator's file."""

from __future__ import annotations

from pathlib import Path

from warden_triage.adapters.yaml_file import load_yaml_file
from warden_triage.domain.catalog import CatalogError, ServiceCatalog


def load_catalog(path: Path | None = None) -> ServiceCatalog:
    """Parse and validate; raise CatalogError so a bad catalog stops the start-up."""
    return load_yaml_file(
        path,
        shipped="service_catalog.yaml",
        what="service catalog",
        error=CatalogError,
        parse=ServiceCatalog.from_document,
    )
