"""Test doubles and builders for Warden's tests: a dev-only distribution, never in a service image.

Doubles stand only at the boundary of services the tests cannot run (Azure Service Bus, Cosmos DB,
Key Vault, an OIDC provider, Teams/Slack, the LLM); everything else in the tests is the real thing.

- `bus`: a real embedded NATS broker per test, `eventually` / `until`.
- `memory_bus`: an in-memory broker behind the bus port, for component tests of handler logic.
- `passwords`: console password hashing at argon2's test profile for a test session.
- `servicebus`, `servicebus_clients`: the Azure Service Bus double behind the SDK's client classes.
- `cosmos`: a Cosmos DB emulator over TLS; `keyvault`: a Key Vault keys emulator.
- `contracts`: envelope builders; `audit`: a recorder over a local store, signers and trusted keys.
- `planner`: a scripted chat model and observers; `triage`: alert storms.
- `console`: a console on the bus with signed approvals; `oidc`, `chat`: Entra and Teams/Slack doubles.

An import-linter contract keeps every production package from importing this one.
"""
