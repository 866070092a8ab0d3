"""Fixtures for a real PostgreSQL server: one fresh database per test (see the team-store tests)."""
