"""The review page: a small Flask app for the people who review and follow posts (an entry point, like cli/)."""
