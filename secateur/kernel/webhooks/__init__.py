"""Webhook rows, fan-out and delivery, shared by the API and the worker."""
