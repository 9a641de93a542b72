"""Running one collection cycle under the job runner's contract, for tests that inspect its samples."""
from __future__ import annotations

from runner.collect import CollectJob
from store.types import Sample


def run_cycle(job: CollectJob, now_ms: int) -> list[Sample]:
    """One tick at ``now_ms`` that must succeed; its samples (already stored by the runner)."""
    assert job.run(now_ms) is True, f"{job.target} cycle failed: {job.last_reason}"
    assert job.last_cycle is not None
    return job.last_cycle.samples
