"""Alembic migrations, shipped inside the package as ``postpilot.migrations``."""
