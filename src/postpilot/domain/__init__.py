"""Pure domain code: no I/O, no SDKs, no database."""
