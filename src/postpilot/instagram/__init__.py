"""The Instagram Graph API edge of postpilot.

- ``error_table``: Meta's error codes as data, and ``classify_graph_error`` turning one into our error.
- ``container_errors``: the same table read for a container whose status is ``ERROR``; ``throttle``: how long
  a rate-limit refusal says to wait.
- ``graph_api``: ``GraphApi``, what the publishing flow needs from the Graph API, and the values it answers with.
- ``graph_calls``: every call built once (path, query, form) and its answer read (``answers``).
- ``client``: ``GraphClient`` (httpx) and ``recording``: ``RecordingGraphClient`` (dry run), both built on
  ``graph_calls`` and both satisfying ``GraphApi``.
- ``oauth``: connecting an account (Facebook Login or Instagram Login), refreshing and checking its token.

The publishing flow (staging, reconciling, persisting) is built on top of ``GraphApi`` elsewhere.
"""
