"""Uploaded files: model archives and datasets."""
