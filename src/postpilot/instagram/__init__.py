"""The Instagram Graph API edge of postpilot.

- ``error_table``: Meta's error codes as data, and ``classify_graph_error`` turning one into our error.
- ``client``: ``GraphClient`` (httpx) and ``RecordingGraphClient`` (dry run), both satisfying ``GraphApi``.
- ``oauth``: connecting an account (Facebook Login or Instagram Login), refreshing and checking its token.

The publishing flow (staging, reconciling, persisting) is built on top of ``GraphApi`` elsewhere.
"""
