"""Pruning jobs: submit, poll, per-round scores, events, cancel and download."""
