"""Telling people: the outbox's sender and the Apprise adapter (issue 14)."""
