"""Barrier computations on Ray: :class:`~jinglian.core.dataops.DataOps` whose pieces run on the run's workers.

In a run, the pieces go to the actors of the run's worker pool (``actor_pool``), which already hold
the stack in memory and would otherwise sit on their CPUs idle while Ray starts a fresh worker
process per task. Outside a run, or in a run whose pool has not started yet (a resumed run whose
first segment is committed), each piece is one Ray task.
"""

from __future__ import annotations

from jinglian.core.dataops import DataOps
from jinglian.pipeline.actor_pool import run_pool


class RayOps(DataOps):
    """Each partition or bucket is one call on a pool actor, or one Ray task; a piece whose worker died is retried."""

    def __init__(self, work_dir: str, num_cpus: float = 1.0, max_retries: int = 3):
        super().__init__(work_dir)
        self.num_cpus = num_cpus
        self.max_retries = max_retries

    def _run_all(self, calls: list) -> list:
        import ray

        pool = run_pool()
        if pool is not None:
            return pool.calls(calls, self.num_cpus, self.max_retries)
        remote = ray.remote(num_cpus=self.num_cpus, max_retries=self.max_retries)(_call)
        return ray.get([remote.remote(fn, args) for fn, args in calls])


def _call(fn, args):
    return fn(*args)
