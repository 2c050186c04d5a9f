"""Alembic migrations of the store (run by ``clauseline.store.migrate`` on every open)."""
