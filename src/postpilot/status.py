"""The ``/status`` summary: counts by status, what is due next, the overdue backlog, accounts at risk, the
dependencies' ends and Meta's usage figures. Shared by the daemon's endpoint and ``App.status()``; it reads
the database and holds no state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from postpilot.db.repository import Repository
from postpilot.domain.model import utcnow
from postpilot.instagram.usage import GraphUsage
from postpilot.watch import DependencyWatch


def status_summary(
    repo: Repository,
    *,
    watch: DependencyWatch,
    usage: GraphUsage,
    last_poll: datetime | None = None,
    draining: bool = False,
) -> dict[str, Any]:
    due, oldest = repo.overdue()
    now = utcnow()
    return {
        "counts": repo.counts_by_status(),
        "next_due": [
            {"id": p.id, "post_type": p.post_type, "status": p.status.value, "scheduled_at": p.scheduled_at.isoformat()}
            for p in repo.next_due(5)
        ],
        "overdue": due,
        "oldest_overdue": None
        if oldest is None
        else {"scheduled_at": oldest.isoformat(), "age_s": round((now - oldest).total_seconds(), 1)},
        "last_poll": last_poll.isoformat() if last_poll else None,
        "draining": draining,
        "dependencies": watch.as_status(),
        "graph_usage": usage.snapshot(),
        "accounts_at_risk": [
            {
                "name": a.name,
                "needs_reconnect": a.needs_reconnect,
                "token_expires_at": a.token_expires_at.isoformat() if a.token_expires_at else None,
                "problem": a.last_error if a.needs_reconnect else (a.token_refresh_error or a.last_error),
            }
            for a in repo.accounts_at_risk()
        ],
        "notifications": {
            "waiting": repo.pending_count(),
            # Channels whose latest messages did not arrive, shown by scheme and host only (URLs hold tokens).
            "failing_channels": [
                {"channel": channel, "messages": count, "last_error": error}
                for channel, count, error in repo.failing_channels()
            ],
        },
    }
