"""The lifecycle table (``domain.lifecycle``), walked: what exists, what does not, and that the repository
refuses the rest."""

from __future__ import annotations

import itertools

import pytest

from postpilot.domain import lifecycle
from postpilot.domain.model import PostStatus as S


def test_every_status_is_reachable_from_scheduled() -> None:
    seen = {S.SCHEDULED}
    frontier = [S.SCHEDULED]
    while frontier:
        here = frontier.pop()
        for source, target in lifecycle.TRANSITIONS:
            if source is here and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(S)


def test_final_statuses_are_left_only_by_a_person() -> None:
    for (source, target), why in lifecycle.TRANSITIONS.items():
        if source in lifecycle.FINAL:
            assert target in (S.SCHEDULED, S.CANCELLED), (source, target)
            assert "person" in why


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.SCHEDULED, S.PUBLISHED),  # nothing is published without being prepared and claimed
        (S.SCHEDULED, S.READY),
        (S.PUBLISHED, S.SCHEDULED),  # a live post is never retried
        (S.PUBLISHED, S.FAILED),
        (S.PUBLISHING, S.CANCELLED),  # too late to cancel
        (S.UNCONFIRMED, S.PUBLISHING),  # only through a person's forced retry
        (S.CANCELLED, S.PUBLISHING),
    ],
)
def test_transitions_that_do_not_exist(source: S, target: S) -> None:
    assert not lifecycle.allowed(source, target)
    with pytest.raises(lifecycle.TransitionNotAllowed):
        lifecycle.check([source], target)


def test_only_publishing_reaches_published_simulated_and_unconfirmed() -> None:
    for target in (S.PUBLISHED, S.SIMULATED, S.UNCONFIRMED):
        assert {s for s, t in lifecycle.TRANSITIONS if t is target} == {S.PUBLISHING}


def test_the_table_has_a_reason_for_every_transition() -> None:
    for pair, why in lifecycle.TRANSITIONS.items():
        assert why.strip(), pair
    assert len(lifecycle.TRANSITIONS) < len(list(itertools.product(S, S)))


def test_going_back_to_scheduled_from_ready_or_publishing_is_only_for_an_edit() -> None:
    """Issue 13: an edit after preparation prepares the post again; nothing else sends it back (the repository
    also refuses it once a publish was attempted)."""
    for source in (S.READY, S.PUBLISHING):
        assert "edited" in lifecycle.TRANSITIONS[(source, S.SCHEDULED)]
