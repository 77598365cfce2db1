"""HTTP side of the console: pages, the polling API, sign-in, Teams and Slack endpoints."""
