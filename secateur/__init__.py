"""Secateur: layer pruning as a service."""
