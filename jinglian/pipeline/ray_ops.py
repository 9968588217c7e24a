"""Barrier computations on Ray: :class:`~jinglian.core.dataops.DataOps` whose pieces are Ray tasks."""

from __future__ import annotations

from jinglian.core.dataops import DataOps


class RayOps(DataOps):
    """Each partition or bucket is one Ray task; Ray retries a task whose worker died."""

    def __init__(self, work_dir: str, num_cpus: float = 1.0, max_retries: int = 3):
        super().__init__(work_dir)
        self.num_cpus = num_cpus
        self.max_retries = max_retries

    def _run_all(self, calls: list) -> list:
        import ray

        remote = ray.remote(num_cpus=self.num_cpus, max_retries=self.max_retries)(_call)
        return ray.get([remote.remote(fn, args) for fn, args in calls])


def _call(fn, args):
    return fn(*args)
