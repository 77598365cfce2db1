"""Approver experience: the web console, Microsoft Teams and Slack approval endpoints."""
