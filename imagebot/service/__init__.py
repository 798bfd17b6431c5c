"""The long-running service: HTTP surface (webhooks, health, metrics) and scheduling."""
