"""A segment's partitions on a pool of Ray actors, one partition per call.

Each actor builds the segment's stages once (heavy ``setup()`` once per worker)
and is handed the next partition as soon as its previous one returns, so a slow
partition never holds the others back. A dead actor (a killed worker, an
out-of-memory kill) is restarted by Ray and its call retried (``max_restarts``
unlimited, ``CRASH_RETRIES`` retries per call); a partition commits its outputs
atomically, so a retry redoes it from the start and nothing is counted twice.
A partition that kills its worker on every try (a record that crashes native
code, one that exhausts memory) would otherwise be retried forever and hang the
run: after ``CRASH_RETRIES`` retries its documents are failed with a named
error instead (read, not processed), and the other partitions go on.
Application errors are not retried: they end the run, as any bug should.

Why not Ray Data's ``map_batches`` over an actor pool: it starts three helper
actors per dataset (stats, autoscaling coordinator, actor location tracker),
each a process importing Ray Data, and a streaming executor around what is
here a plain work queue: seconds more per segment on a small machine
(BENCHMARKS.md, Engine).
"""

from __future__ import annotations

from jinglian.pipeline.job import JobError
from jinglian.pipeline.partition import PartitionTask, SegmentPlan, SegmentRunner

# Retries of a partition whose worker process died. A killed or preempted worker is rare enough that
# two retries recover it; a partition that kills its worker three times in a row is the cause.
CRASH_RETRIES = 2


class SegmentWorker:
    """One pool actor (its process title is ``ray::SegmentWorker``)."""

    def __init__(self, plan: SegmentPlan):
        from jinglian.stages import stage_class

        self.runner = SegmentRunner(plan, [stage_class(name) for name, _ in plan.stages])

    def run(self, task: PartitionTask, crashed: str | None = None) -> dict:
        return self.runner.run(task, crashed)


def pool_size(cpus_per_worker: float, cluster_cpus: float, requested: int | None, partitions: int) -> int:
    """Actors for a segment: as requested (default: as many as the cluster fits), never more than its partitions.

    Each actor costs a process start and the segment's ``setup()``; one with no partition to run is pure cost.
    """
    fits = int(cluster_cpus // cpus_per_worker) or 1
    return max(1, min(requested or fits, partitions))


def run_on_actor_pool(plan: SegmentPlan, tasks: list[PartitionTask], cpus_per_worker: float, workers: int | None):
    """Yield each partition's result as it completes (in completion order)."""
    import ray

    size = pool_size(cpus_per_worker, ray.cluster_resources().get("CPU", 1), workers, len(tasks))
    remote_cls = ray.remote(num_cpus=cpus_per_worker, max_restarts=-1, max_task_retries=CRASH_RETRIES)(SegmentWorker)
    actors = [remote_cls.remote(plan) for _ in range(size)]  # a plan is small: passed inline, not via the store
    queue = list(reversed(tasks))  # pop() from the end hands partitions out in order
    running = {}
    try:
        for actor in actors:
            if queue:
                task = queue.pop()
                running[actor.run.remote(task)] = (actor, task)
        while running:
            [ref], _ = ray.wait(list(running), num_returns=1)
            actor, task = running.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                result = _fail_crashed(actor, plan, task, exc)
            if queue:
                task = queue.pop()
                running[actor.run.remote(task)] = (actor, task)
            yield result
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)


def _fail_crashed(actor, plan: SegmentPlan, task: PartitionTask, exc: Exception) -> dict:
    import ray

    try:
        return ray.get(actor.run.remote(task, crash_message(plan, task, exc)))
    except ray.exceptions.RayActorError:
        raise JobError(f"partition {task.part} ({task.source_path}): the worker process dies even while only "
                       "reading it; the run stops (committed partitions are kept: re-running resumes)") from None


def crash_message(plan: SegmentPlan, task: PartitionTask, exc: Exception) -> str:
    """The error each document of a partition that kept killing its worker is failed with."""
    stages = "+".join(name for name, _ in plan.stages)
    cause = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return (f"{stages}: WorkerCrashed: the worker process died {CRASH_RETRIES + 1} times while processing "
            f"partition {task.part} ({type(exc).__name__}: {cause}); its documents were not processed")
