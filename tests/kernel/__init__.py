"""Tests of the kernel both rooms share, and of the import rules between the rooms."""
