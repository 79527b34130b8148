"""Alembic migrations of the database schema (run through `storage.migrate`)."""
