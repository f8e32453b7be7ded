"""postpilot: publishes scheduled Instagram posts exactly once, on the minute."""

__version__ = "0.1.0"
