"""Alembic migrations of the job store's schema (run by ``JobStore.migrate``)."""
