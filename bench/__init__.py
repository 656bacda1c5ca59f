"""Reproduction benchmark: AGLP vs GLP vs top-layer dropping on real data, rendered to docs/results.md."""
