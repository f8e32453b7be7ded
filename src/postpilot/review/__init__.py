"""The review page: a small server-rendered Flask app, served by the daemon on its own listener
(``POSTPILOT_WEB_LISTEN``), for the people who review and follow posts. An entry point like ``cli/``: its
actions call the same repository and pipeline operations as the CLI, with the same rules and messages.

    factory.py    create_review_app(App): settings, cookies, CSRF, security headers, error pages
    auth.py       login, logout, lockout, the current user, the viewer/reviewer gate
    pages.py      queue, week, grid and post pages (read only)
    actions.py    approve, reject, regenerate, retry, cancel, prepare now (POST, reviewers only)
    images.py     full images and cached thumbnails from the media store, for logged-in users only
    queue.py      the queue's model: posts grouped by day in a zone, what needs a person first
    words.py      statuses, events and times in words
    passwords.py  Argon2 hashes (used by ``postpilot user`` too, without Flask)
    server.py     waitress in its own thread, started and stopped by the daemon

Nothing here is imported by the daemon unless the page is enabled.
"""
