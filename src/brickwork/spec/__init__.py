"""Spec files: schema, loading, overrides."""
