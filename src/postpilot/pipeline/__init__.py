"""The service layer: one post through prepare → stage → publish (with reconcile), and the runner that claims
work and runs it on bounded pools.

    steps.Pipeline     runs one step for one post and records what happened
      prepare.Preparer   validate, generate or fetch, transform, store, record each item at once
      stage.StagingFlow  create the Graph API containers, wait (at Meta's pace) for FINISHED
      publish.PublishFlow  media_publish once; reconcile an unknown outcome by reading the container
      outcome            a retry decision (domain.retry) applied as a typed change (domain.changes)
    runner.Runner      claims (db/leases) and runs steps on the publish / stage / prepare pools
    once.run_once      one pass of everything, for cron and tests
    ports              the Protocols the pipeline needs from storage and from Meta
"""

from postpilot.pipeline.outcome import Outcome, StepResult
from postpilot.pipeline.steps import Pipeline

__all__ = ["Outcome", "Pipeline", "StepResult"]
