"""Persistence: SQLAlchemy models, engine setup and the repository (the only code that changes post state)."""
