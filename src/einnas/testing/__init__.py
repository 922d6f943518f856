"""Helpers for testing einnas and code built on it (e.g. a new storage backend)."""
