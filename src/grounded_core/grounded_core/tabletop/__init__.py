"""Tabletop arm world (temporary during development)."""
