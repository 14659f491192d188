"""Alembic migrations of the database (a package so that installs ship them)."""
