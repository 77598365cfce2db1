"""Load the service catalog: the shipped `service_catalog.yaml` or an operator's file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from warden_triage.domain.catalog import CatalogError, ServiceCatalog


def load_catalog(path: Path | None = None) -> ServiceCatalog:
    """Parse and validate; raise CatalogError so a bad catalog stops the start-up."""
    if path is None:
        text = resources.files("warden_triage").joinpath("service_catalog.yaml").read_text(encoding="utf-8")
        origin = "warden_triage/service_catalog.yaml"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise CatalogError(f"cannot read service catalog {path}: {err}") from None
        origin = str(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CatalogError(f"{origin} is not valid YAML: {err}") from None
    try:
        return ServiceCatalog.from_document(document)
    except CatalogError as err:
        raise CatalogError(f"{origin}: {err}") from None
