"""Shipped JSON Schemas (data only)."""
