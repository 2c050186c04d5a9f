"""Alembic migrations of the store (run by ``engine.store.migrate`` on every open)."""
