"""Console adapters: the audit log and policy APIs, the users file, OIDC, Teams and Slack connectors."""
