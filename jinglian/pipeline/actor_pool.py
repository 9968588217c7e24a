"""A segment's partitions on a pool of Ray actors, one partition per call.

Each actor builds the segment's stages once (heavy ``setup()`` once per worker)
and is handed the next partition as soon as its previous one returns, so a slow
partition never holds the others back. A partition commits its outputs
atomically, so a partition run again is redone from the start and nothing is
counted twice. When an actor dies the pool tells two causes apart:

- **Its node was lost** (the machine stopped, a spot instance was taken back, the
  raylet was killed): the partition did nothing wrong. It goes back to the queue
  uncounted and runs on a surviving actor; the lost actor is not restarted, and
  a replacement is started only where the surviving cluster has room for it.
- **Its worker process died on a live node** (a killed worker, an out-of-memory
  kill, a record that crashes native code): Ray restarts the actor in place
  (``max_restarts`` unlimited) and the partition runs again, up to
  ``CRASH_RETRIES`` times. A partition that kills its worker on every try would
  otherwise be retried forever and hang the run: after that its documents are
  failed with a named error instead (read, not processed), and the others go on.

Which it was is decided by the cluster, not by the error's wording: each actor
reports its node first, and after a death the pool waits until either Ray
marks that node dead or the restarted actor answers again. Application errors
are not retried: they end the run, as any bug should.

Why not Ray Data's ``map_batches`` over an actor pool: it starts three helper
actors per dataset (stats, autoscaling coordinator, actor location tracker),
each a process importing Ray Data, and a streaming executor around what is
here a plain work queue: seconds more per segment on a small machine
(BENCHMARKS.md, Engine).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from jinglian.pipeline.job import JobError
from jinglian.pipeline.partition import PartitionTask, SegmentPlan, SegmentRunner

# Retries of a partition whose worker process died. A killed or preempted worker is rare enough that
# two retries recover it; a partition that kills its worker three times in a row is the cause.
CRASH_RETRIES = 2
# Node losses a partition may ride out before they count as crashes: a partition cannot take a node down
# by itself often, but one that exhausts a machine's memory can get its raylet killed, and must not be
# retried on node after node forever.
NODE_LOSS_RETRIES = 5
# How often the driver asks the cluster about a dead actor's node and probes the actor again.
SUSPECT_POLL_S = 0.5


class SegmentWorker:
    """One pool actor (its process title is ``ray::SegmentWorker``)."""

    def __init__(self, plan: SegmentPlan):
        from jinglian.stages import stage_class

        self.runner = SegmentRunner(plan, [stage_class(name) for name, _ in plan.stages])

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def run(self, task: PartitionTask, crashed: str | None = None) -> dict:
        return self.runner.run(task, crashed)


def pool_size(cpus_per_worker: float, cluster_cpus: float, requested: int | None, partitions: int) -> int:
    """Actors for a segment: as requested (default: as many as the cluster fits), never more than its partitions.

    Each actor costs a process start and the segment's ``setup()``; one with no partition to run is pure cost.
    """
    fits = int(cluster_cpus // cpus_per_worker) or 1
    return max(1, min(requested or fits, partitions))


def run_on_actor_pool(plan: SegmentPlan, tasks: list[PartitionTask], cpus_per_worker: float, workers: int | None,
                      log=None):
    """Yield each partition's result as it completes (in completion order); ``log`` gets a line per lost node."""
    pool = _Pool(plan, cpus_per_worker, workers, log or (lambda line: None))
    try:
        yield from pool.run(tasks)
    finally:
        pool.close()


@dataclass
class _Actor:
    handle: object
    node_ref: object  # the node it was placed on, asked before its first partition
    node: str | None = None


@dataclass
class _Call:
    actor: _Actor
    task: PartitionTask
    crashed: str | None = None  # set: read the partition and fail its documents with this message
    error: Exception | None = None  # the death being looked into (a suspect's probe)
    probe_at: float = 0.0  # a suspect is asked again no sooner than this (time.monotonic())


@dataclass
class _Pool:
    plan: SegmentPlan
    cpus: float
    workers: int | None
    log: object
    actors: list = field(default_factory=list)
    queue: list = field(default_factory=list)  # [(task, crashed)], next at the end
    running: dict = field(default_factory=dict)  # partition call ref -> _Call
    probes: dict = field(default_factory=dict)  # ref of a dead actor's node_id() -> the _Call that died
    suspects: list = field(default_factory=list)  # dead actors' _Calls to probe again at the next poll
    crashes: Counter = field(default_factory=Counter)
    losses: Counter = field(default_factory=Counter)
    remote_cls: object = None

    def run(self, tasks: list[PartitionTask]):
        import ray

        self.queue = [(task, None) for task in reversed(tasks)]
        size = pool_size(self.cpus, ray.cluster_resources().get("CPU", 1), self.workers, len(tasks))
        # no task retries by Ray: the pool decides, as only it can tell a lost node from a crash
        self.remote_cls = ray.remote(num_cpus=self.cpus, max_restarts=-1, max_task_retries=0)(SegmentWorker)
        for _ in range(size):
            self._start_actor()
        self._fill()
        while self.running or self.probes or self.suspects or self.queue:
            starting = {a.node_ref: a for a in self.actors if a.node is None}  # not placed yet: no partition
            refs = list(self.running) + list(self.probes) + list(starting)
            poll = SUSPECT_POLL_S if self.suspects or self.probes else None
            if refs:
                ready, _ = ray.wait(refs, num_returns=1, timeout=poll)
            else:  # only suspects: nothing to wait on but the cluster's verdict
                ready = []
                time.sleep(SUSPECT_POLL_S)
            for ref in ready:
                if ref in starting:
                    self._placed(starting[ref])
                    continue
                if ref in self.probes:
                    self._probe_answered(self.probes.pop(ref), ref)
                    continue
                call = self.running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    self._died(call, exc)
                else:
                    yield result
            if self.probes or self.suspects:
                self._check_suspects()
            self._fill()

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor.handle, no_restart=True)

    def _start_actor(self) -> None:
        handle = self.remote_cls.remote(self.plan)  # a plan is small: passed inline, not via the store
        self.actors.append(_Actor(handle, handle.node_id.remote()))  # answered before any partition runs

    def _fill(self) -> None:
        # A partition goes only to an actor that has been placed on a node: one still waiting for room
        # (its node lost before it started, or a node the cluster still lists but is gone) may never
        # start, and a partition queued on it would wait with it while the live actors go idle.
        busy = {id(c.actor) for c in (*self.running.values(), *self.probes.values(), *self.suspects)}
        for actor in self.actors:
            if self.queue and id(actor) not in busy and actor.node is not None:
                task, crashed = self.queue.pop()
                self.running[actor.handle.run.remote(task, crashed)] = _Call(actor, task, crashed)

    def _died(self, call: _Call, exc: Exception) -> None:
        """An actor died while running a partition: was it the partition, or the node?"""
        if getattr(exc, "actor_init_failed", False):  # its __init__ raised: a bug, not a fault
            raise exc
        call.error = exc
        node = self._node_of(call.actor)
        if node is None:  # it died before its first call: the partition never ran on it
            self._lost(call, "before it started")
        elif node not in _alive_nodes():
            self._lost(call, f"with node {node[:12]}")
        else:  # the verdict comes from the cluster: Ray marks the node dead, or restarts the actor in place
            self.suspects.append(call)

    def _placed(self, actor: _Actor) -> None:
        """The actor's first answer (its node) came: it can take partitions; if it died first, ask again."""
        import ray

        try:
            actor.node = ray.get(actor.node_ref)
        except ray.exceptions.RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):  # its __init__ raised: a bug, not a fault
                raise
            time.sleep(SUSPECT_POLL_S)  # an actor being restarted fails such a call at once: no busy loop
            actor.node_ref = actor.handle.node_id.remote()  # answered once Ray has restarted it somewhere

    def _node_of(self, actor: _Actor) -> str | None:
        import ray

        if actor.node is None:
            ready, _ = ray.wait([actor.node_ref], timeout=0)
            if ready:
                try:
                    actor.node = ray.get(ready[0])
                except ray.exceptions.RayError:
                    pass
        return actor.node

    def _check_suspects(self) -> None:
        alive = _alive_nodes()
        for ref, call in list(self.probes.items()):
            if call.actor.node not in alive:
                del self.probes[ref]
                self._lost(call, f"with node {call.actor.node[:12]}")
        suspects, self.suspects = self.suspects, []
        for call in suspects:
            if call.actor.node not in alive:
                self._lost(call, f"with node {call.actor.node[:12]}")
            elif time.monotonic() < call.probe_at:
                self.suspects.append(call)
            else:  # returns once the actor is back (restarted after its process died)
                self.probes[call.actor.handle.node_id.remote()] = call

    def _probe_answered(self, call: _Call, ref) -> None:
        import ray

        try:
            node = ray.get(ref)
        except ray.exceptions.ActorUnavailableError:  # not restarted yet, or its node about to be declared dead
            call.probe_at = time.monotonic() + SUSPECT_POLL_S  # such a probe fails at once: no busy loop
            self.suspects.append(call)
            return
        except ray.exceptions.RayActorError:  # died again before running anything: a fresh actor instead
            if call.actor.node not in _alive_nodes():
                self._lost(call, f"with node {call.actor.node[:12]}")
                return
            self._retire(call.actor)
            self._start_actor()
            self._crashed(call)
            return
        lost = call.actor.node not in _alive_nodes()  # restarted elsewhere after its node was lost
        call.actor.node = node
        if lost:
            self._requeue_lost(call)
        else:
            self._crashed(call)

    def _crashed(self, call: _Call) -> None:
        """The worker process died on a live node while running this partition."""
        part = call.task.part
        if call.crashed is not None:
            raise JobError(f"partition {part} ({call.task.source_path}): the worker process dies even while only "
                           "reading it; the run stops (committed partitions are kept: re-running resumes)")
        self.crashes[part] += 1
        crashed = crash_message(self.plan, call.task, call.error) if self.crashes[part] > CRASH_RETRIES else None
        self.queue.append((call.task, crashed))

    def _lost(self, call: _Call, how: str) -> None:
        """The actor went with its node (or never ran): retire it, run the partition elsewhere."""
        import ray

        self._retire(call.actor)
        self._requeue_lost(call)
        remaining = len(self.queue) + len(self.running) + len(self.probes) + len(self.suspects)
        room = pool_size(self.cpus, ray.cluster_resources().get("CPU", 0), self.workers, remaining)
        if not self.actors or len(self.actors) < room:  # with no actor left, one waits for a node to join
            self._start_actor()
        self.log(f"  a worker was lost {how}: partition {call.task.part} runs again on the surviving nodes "
                 f"({len(self.actors)} workers now)")

    def _requeue_lost(self, call: _Call) -> None:
        part = call.task.part
        self.losses[part] += 1
        if self.losses[part] > NODE_LOSS_RETRIES:
            self._crashed(call)
        else:
            self.queue.append((call.task, call.crashed))

    def _retire(self, actor: _Actor) -> None:
        import ray

        ray.kill(actor.handle, no_restart=True)  # else Ray restarts it wherever it fits, maybe nowhere
        self.actors.remove(actor)


def _alive_nodes() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def crash_message(plan: SegmentPlan, task: PartitionTask, exc: Exception) -> str:
    """The error each document of a partition that kept killing its worker is failed with."""
    stages = "+".join(name for name, _ in plan.stages)
    cause = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return (f"{stages}: WorkerCrashed: the worker process died {CRASH_RETRIES + 1} times while processing "
            f"partition {task.part} ({type(exc).__name__}: {cause}); its documents were not processed")
