"""Load the classification rules: the shipped `classification.yaml` or an operator's override."""

from __future__ import annotations

from pathlib import Path

from warden_triage.adapters.yaml_file import load_yaml_file
from warden_triage.domain.classification import ClassificationError, Classifier


def load_classifier(path: Path | None = None) -> Classifier:
    """Parse and validate; raise ClassificationError so a bad rule file stops the start-up."""
    return load_yaml_file(
        path,
        shipped="classification.yaml",
        what="classification rules",
        error=ClassificationError,
        parse=Classifier.from_document,
    )
