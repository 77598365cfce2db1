"""The renderers behind `warden generate`: YAML scalars that read back as the same strings, Bicep
literals that stay literals, and what all services share written once."""

from __future__ import annotations

import pytest
import yaml
from warden_cli.environment_files import _yaml_scalar, bicep_block, compose_block
from warden_cli.generated_region import MissingRegion, Region
from warden_cli.process_description import Bicep, Kind, NatsUrl, OwnPort, ServiceProcess, Setting, literal


@pytest.mark.parametrize("value", ["8080", "0.0.0.0", "", "a #b", "yes", "${X:-}", "nats://nats:4222", " x", "1e3"])
def test_yaml_scalars_read_back_as_the_same_string(value: str) -> None:
    assert yaml.safe_load(f"k: {_yaml_scalar(value)}") == {"k": value}


def test_plain_where_plain_reads_the_same() -> None:
    assert _yaml_scalar("/data/keys/x") == "/data/keys/x"
    assert _yaml_scalar("8080") == '"8080"'


def test_bicep_literal_escapes_quotes_and_interpolation() -> None:
    assert literal("it's ${x}").expression == "'it\\'s \\${x}'"
    assert Bicep("ids[idx.<service>]").render("audit") == "ids[idx.audit]"


def _two() -> dict[str, ServiceProcess]:
    def p(name: str, *extra: Setting) -> ServiceProcess:
        port = Setting("WARDEN_HTTP_PORT", Kind.PORT, OwnPort(), azure=literal("8080"))
        return ServiceProcess(
            name, f"warden_{name}", (Setting("WARDEN_NATS_URL", Kind.URL, NatsUrl()), port, *extra), on_azure=True
        )

    own = Setting("WARDEN_X", Kind.VALUE, azure=Bicep("x.outputs.<service>"))
    return {"a": p("a", own), "b": p("b")}


def test_what_every_service_shares_is_written_once() -> None:
    bicep = bicep_block(_two())
    assert bicep.count("WARDEN_HTTP_PORT") == 1
    assert "  a: concat(sharedEnv, [\n    { name: 'WARDEN_X', value: x.outputs.a }\n  ])" in bicep
    assert "  b: sharedEnv" in bicep
    doc = yaml.safe_load(compose_block(_two()))
    assert doc["x-env-a"] == doc["x-env-b"] == {"WARDEN_NATS_URL": "nats://nats:4222", "WARDEN_HTTP_PORT": "8080"}


def test_a_region_is_replaced_between_its_markers_only() -> None:
    region = Region("t", "#", "note line")
    text = "head\n# BEGIN GENERATED: t (old note)\nstale\n# END GENERATED: t\ntail\n"
    assert (
        region.replace(text, "fresh", where="f")
        == "head\n# BEGIN GENERATED: t\n# note line\nfresh\n# END GENERATED: t\ntail\n"
    )
    with pytest.raises(MissingRegion, match="f: needs exactly one"):
        region.replace(text + text, "fresh", where="f")
