"""`warden connect SOURCE`: a ready-to-paste receiver that sends that source's alerts to Warden.

The URL comes from the running stack (`stack.json`) or, before the first start, from the
estate's fixed triage port (`--config`, else the bundled demo estate); the credential is the
webhook token file under the data directory (`--inline` prints the token itself where the
receiver cannot read a file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from warden_triage import api as triage

SOURCES = tuple(triage.SENDERS)


def _base_url(data_dir: Path, config: Path | None) -> str:
    from warden_cli.layout import Layout

    layout = Layout(data_dir)
    # The running stack knows the ports it really listens on (also with `--random-ports`).
    if layout.stack_file.exists():
        return str(layout.read_stack()["webhook_url"]).rsplit("/webhooks/", 1)[0]
    from warden_estate import load_estate

    from warden_cli.estate_wiring import demo_estate_path

    estate = load_estate(config or demo_estate_path())
    port = estate.ports()["triage"]
    if not port:
        raise ValueError("listen.random is true: the port is known only once `warden up` runs (see stack.json)")
    return f"http://{estate.listen.host}:{port}"


def alertmanager(url: str, token_file: Path, token: str | None) -> str:
    credential = f"credentials: {token}" if token else f"credentials_file: {token_file}"
    return f"""\
# alertmanager.yml: every alert group goes to Warden (the route may also be a child route).
route:
  receiver: warden
  group_by: [alertname, namespace, deployment, service]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: warden
    webhook_configs:
      - url: {url}/webhooks/prometheus
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            {credential}
"""


def azure_monitor(url: str, token_file: Path, token: str) -> str:
    return f"""\
# Azure Monitor action group -> Actions -> Webhook (Portal, or `az monitor action-group update`):
#   URI:                       {url}/webhooks/azure-monitor?token={token}
#   Enable the common alert schema: Yes
# An action group webhook cannot send headers, so the token rides in the query string on this
# route only (the token file is {token_file}; rotate it by deleting keys/secrets.json).
az monitor action-group update --name <action-group> --resource-group <rg> \\
  --add-action webhook warden "{url}/webhooks/azure-monitor?token={token}" usecommonalertschema
"""


def grafana(url: str, token_file: Path, token: str | None) -> str:
    credential = token or f"$__file{{{token_file}}}"
    return f"""\
# Grafana provisioning (e.g. /etc/grafana/provisioning/alerting/warden.yaml), or Alerting ->
# Contact points -> Webhook with the same URL, "Authorization Header - Scheme" Bearer and the token.
apiVersion: 1
contactPoints:
  - orgId: 1
    name: warden
    receivers:
      - uid: warden-webhook
        type: webhook
        disableResolveMessage: false
        settings:
          url: {url}/webhooks/grafana
          httpMethod: POST
          authorization_scheme: Bearer
          authorization_credentials: {credential}
"""


def cloudevents(url: str, token_file: Path, token: str | None) -> str:
    event = {
        "specversion": "1.0",
        "id": "check-42-1",
        "source": "//my-monitor/checks/42",
        "type": "com.example.alert.fired",
        "time": "2026-01-01T00:00:00Z",
        "data": {"rule": "Health check failing", "service": "<a service of warden.yaml>", "severity": "Sev2"},
    }
    auth = token or f"$(cat {token_file})"
    return f"""\
# Any sender that can POST a CloudEvent (structured mode shown; binary mode works too).
curl -sS -X POST "{url}/webhooks/cloudevents" \\
  -H "Authorization: Bearer {auth}" \\
  -H "Content-Type: application/cloudevents+json" \\
  --data '{json.dumps(event)}'
"""


def run(
    source: Annotated[str, typer.Argument(help="alertmanager | azure-monitor | grafana | cloudevents")],
    config: Annotated[
        Path | None, typer.Option("--config", help="the estate file (default: the running stack)")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="stack data directory")] = None,
    inline: Annotated[bool, typer.Option("--inline", help="print the token itself instead of its file")] = False,
) -> None:
    """Print a ready-to-paste receiver: alertmanager | azure-monitor | grafana | cloudevents."""
    from warden_cli.errors import UserError
    from warden_cli.estate_wiring import webhook_token_file
    from warden_cli.layout import Layout, default_data_dir

    if source not in SOURCES:
        typer.secho(f"unknown source {source!r}: use one of {', '.join(SOURCES)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if config is not None and not config.is_file():
        raise UserError(f"no estate file at {config} (write one with `warden init {config}`)")
    root = (data_dir or default_data_dir()).resolve()  # made on first use, like `warden up` does
    try:
        url = _base_url(root, config)
    except Exception as err:  # an invalid estate or a stack file being rewritten: say so, exit 1
        typer.secho(f"warden connect: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    layout = Layout(root)
    token_file = webhook_token_file(layout)
    token = token_file.read_text().strip()
    shown = token if inline else None
    text = {
        "alertmanager": lambda: alertmanager(url, token_file, shown),
        "azure-monitor": lambda: azure_monitor(url, token_file, token),
        "grafana": lambda: grafana(url, token_file, shown),
        "cloudevents": lambda: cloudevents(url, token_file, shown),
    }[source]()
    typer.echo(text, nl=False)
