"""Shipped policy rule files (data only)."""
