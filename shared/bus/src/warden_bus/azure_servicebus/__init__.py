"""The bus port over Azure Service Bus (`azure.servicebus.aio`): topics, one subscription per
consuming identity, peek-lock settlement, duplicate detection on the envelope id, Entra auth.

Entity names and limits live in `entities`; the Bicep generator under `deploy/` reads them too.
"""
