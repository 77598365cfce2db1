"""Load the classification rules: the shipped `classification.yaml` or an operator's override."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from warden_triage.domain.classification import ClassificationError, Classifier


def load_classifier(path: Path | None = None) -> Classifier:
    """Parse and validate; raise ClassificationError so a bad rule file stops the start-up."""
    if path is None:
        text = resources.files("warden_triage").joinpath("classification.yaml").read_text(encoding="utf-8")
        origin = "warden_triage/classification.yaml"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ClassificationError(f"cannot read classification rules {path}: {err}") from None
        origin = str(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ClassificationError(f"{origin} is not valid YAML: {err}") from None
    try:
        return Classifier.from_document(document)
    except ClassificationError as err:
        raise ClassificationError(f"{origin}: {err}") from None
