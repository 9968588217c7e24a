"""The run's Ray workers: one pool of actors that runs every segment's partitions and every barrier's pieces.

Each actor builds a segment's stages once (heavy ``setup()`` once per worker
and segment) and is handed the next partition as soon as its previous one
returns, so a slow partition never holds the others back. The actors outlive
their segment: the barrier after it runs its pieces (``DataOps`` calls) on
them, and the next segment's partitions too. A worker process that has
imported the stack is worth seconds on a small machine (a fresh one per
segment and per barrier task was most of a small run's cost on Ray;
BENCHMARKS.md, Engine), and a barrier's tasks could not get a CPU from Ray
while the actors held them anyway. An actor drops its previous segment's
stages when it gets a partition of the next one. The pool lives from the
run's first segment to the end of its Ray session (:func:`close_run_pool`).

A partition commits its outputs atomically, so a partition run again is
redone from the start and nothing is counted twice; a barrier's piece writes
its one output file atomically too. When an actor dies the pool tells two
causes apart:

- **Its node was lost** (the machine stopped, a spot instance was taken back, the
  raylet was killed): the work did nothing wrong. It goes back to the queue
  uncounted and runs on a surviving actor; the lost actor is not restarted, and
  a replacement is started only where the surviving cluster has room for it.
- **Its worker process died on a live node** (a killed worker, an out-of-memory
  kill, a record that crashes native code): Ray restarts the actor in place
  (``max_restarts`` unlimited) and the work runs again: a partition up to
  ``CRASH_RETRIES`` times, after which its documents are failed with a named
  error instead (read, not processed) and the others go on; a barrier's piece
  up to its ``max_retries``, after which the run stops with a named error.

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

import gc
import time
from collections import Counter
from dataclasses import dataclass, field

from jinglian.pipeline.job import JobError
from jinglian.pipeline.partition import PartitionTask, SegmentPlan, SegmentRunner

# Retries of a partition whose worker process died. A killed or preempted worker is rare enough that
# two retries recover it; a partition that kills its worker three times in a row is the cause.
CRASH_RETRIES = 2
# Node losses a piece of work may ride out before they count as crashes: a partition cannot take a node down
# by itself often, but one that exhausts a machine's memory can get its raylet killed, and must not be
# retried on node after node forever.
NODE_LOSS_RETRIES = 5
# How often the driver asks the cluster about a dead actor's node and probes the actor again.
SUSPECT_POLL_S = 0.5


class SegmentWorker:
    """One pool actor (its process title is ``ray::SegmentWorker``, ``ray::SegmentWorker.run_call`` in a barrier)."""

    def __init__(self):
        self.plan: SegmentPlan | None = None
        self.runner: SegmentRunner | None = None

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def run(self, plan: SegmentPlan, task: PartitionTask, crashed: str | None = None) -> dict:
        if plan != self.plan:  # the first partition of a segment here
            from jinglian.stages import stage_class

            self._drop_stages()
            self.runner = SegmentRunner(plan, [stage_class(name) for name, _ in plan.stages])
            self.plan = plan
        return self.runner.run(task, crashed)

    def run_call(self, fn, args):
        """A barrier's piece (one partition or bucket of a ``DataOps`` operation)."""
        self._drop_stages()  # the segment before the barrier is done: its models need not sit beside the piece's data
        return fn(*args)

    def _drop_stages(self) -> None:
        if self.runner is not None:
            self.plan = self.runner = None
            gc.collect()  # freed now, before the next piece of work loads its own


def pool_size(cpus_per_worker: float, cluster_cpus: float, requested: int | None, partitions: int) -> int:
    """Actors for a segment: as requested (default: as many as the cluster fits), never more than its partitions.

    Each actor costs a process start and the segment's ``setup()``; one with no partition to run is pure cost.
    """
    fits = int(cluster_cpus // cpus_per_worker) or 1
    return max(1, min(requested or fits, partitions))


_run_pool: "WorkerPool | None" = None  # the pool of the run in progress in this process, once it has one


def run_on_actor_pool(plan: SegmentPlan, tasks: list[PartitionTask], cpus_per_worker: float, workers: int | None,
                      log=None):
    """Yield each partition's result as it completes (in completion order); ``log`` gets a line per lost node.

    The actors stay for the run's next barrier and segment (see :func:`close_run_pool`).
    """
    global _run_pool
    pool = _current_pool()
    if pool is None:
        pool = _run_pool = WorkerPool()
    pool.log = log or (lambda line: None)
    yield from pool.partitions(plan, tasks, cpus_per_worker, workers)


def run_pool() -> "WorkerPool | None":
    """The pool of the run in progress in this process, if it has started one (None: not in a run, or no segment yet)."""
    return _current_pool()


def close_run_pool() -> None:
    """End the run's actors (the end of its Ray session)."""
    global _run_pool
    pool, _run_pool = _current_pool(), None
    if pool is not None:
        pool.close()


def _current_pool() -> "WorkerPool | None":
    """The run's pool, unless it belongs to a Ray instance that has since been shut down."""
    global _run_pool
    import ray

    if _run_pool is not None and (not ray.is_initialized() or _run_pool.ray_instance != _ray_instance()):
        _run_pool = None  # its actors went with that instance
    return _run_pool


def _ray_instance() -> tuple:
    """This driver's Ray instance and job (a fresh local instance numbers its jobs from 1 again; its node id is new)."""
    import ray

    context = ray.get_runtime_context()
    return context.get_node_id(), context.get_job_id()


@dataclass
class _Actor:
    handle: object
    node_ref: object  # the node it was placed on, asked before its first piece of work
    node: str | None = None


@dataclass
class _Partition:
    """A partition of a segment; ``crashed`` set: read it and fail its documents with this message."""

    task: PartitionTask
    crashed: str | None = None

    @property
    def key(self):
        return ("part", self.task.part)

    def submit(self, actor: _Actor, plan: SegmentPlan):
        return actor.handle.run.remote(plan, self.task, self.crashed)  # a plan is small: passed inline


@dataclass
class _Piece:
    """One call of a barrier's ``DataOps`` operation; its result goes to position ``index``."""

    index: int
    fn: object
    args: tuple

    @property
    def key(self):
        return ("piece", self.index)

    def submit(self, actor: _Actor, plan):
        return actor.handle.run_call.remote(self.fn, self.args)


@dataclass
class _Call:
    actor: _Actor
    work: object  # _Partition or _Piece
    error: Exception | None = None  # the death being looked into (a suspect's probe)
    probe_at: float = 0.0  # a suspect is asked again no sooner than this (time.monotonic())


@dataclass
class WorkerPool:
    log: object = None
    actors: list = field(default_factory=list)
    cpus: float | None = None  # each actor's CPUs
    workers: int | None = None  # actors asked for (--workers), as the first segment said
    ray_instance: tuple = ()  # the Ray instance and job whose actors these are
    remote_cls: object = None
    # one batch of work (a segment's partitions or a barrier operation's pieces):
    plan: SegmentPlan | None = None
    max_piece_retries: int = 0
    queue: list = field(default_factory=list)  # work items, next at the end
    running: dict = field(default_factory=dict)  # call ref -> _Call
    probes: dict = field(default_factory=dict)  # ref of a dead actor's node_id() -> the _Call that died
    suspects: list = field(default_factory=list)  # dead actors' _Calls to probe again at the next poll
    crashes: Counter = field(default_factory=Counter)
    losses: Counter = field(default_factory=Counter)

    def partitions(self, plan: SegmentPlan, tasks: list[PartitionTask], cpus: float, workers: int | None):
        """Run a segment's partitions; yield each result as it completes."""
        import ray

        self.workers = workers
        self._ensure(cpus, pool_size(cpus, ray.cluster_resources().get("CPU", 1), workers, len(tasks)))
        self.plan = plan
        for _, result in self._run([_Partition(task) for task in tasks]):
            yield result

    def calls(self, calls: list, num_cpus: float, max_retries: int) -> list:
        """Run a barrier operation's ``(fn, args)`` calls on the actors; their results in order.

        Actors of fewer than ``num_cpus`` CPUs are replaced first (they hold CPUs a task of the barrier
        would wait for: the run would hang).
        """
        import ray

        self.plan, self.max_piece_retries = None, max_retries
        cpus = max(self.cpus or 0.0, num_cpus)
        self._ensure(cpus, pool_size(cpus, ray.cluster_resources().get("CPU", 1), self.workers, len(calls)))
        results = [None] * len(calls)
        for work, result in self._run([_Piece(i, fn, args) for i, (fn, args) in enumerate(calls)]):
            results[work.index] = result
        return results

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor.handle, no_restart=True)
        self.actors = []

    def _ensure(self, cpus: float, size: int) -> None:
        """At least ``size`` actors of ``cpus`` CPUs each (those of another size go first)."""
        import ray

        if self.cpus != cpus:
            self.close()
            self.cpus = cpus
            # no task retries by Ray: the pool decides, as only it can tell a lost node from a crash
            self.remote_cls = ray.remote(num_cpus=cpus, max_restarts=-1, max_task_retries=0)(SegmentWorker)
            self.ray_instance = _ray_instance()
        while len(self.actors) < size:
            self._start_actor()

    def _run(self, work: list):
        """Yield (work item, result) as each completes; an interrupted batch ends the actors (they may still be busy)."""
        import ray

        self.queue = list(reversed(work))
        self.running, self.probes, self.suspects = {}, {}, []
        self.crashes, self.losses = Counter(), Counter()
        finished = False
        try:
            self._fill()
            while self.running or self.probes or self.suspects or self.queue:
                starting = {a.node_ref: a for a in self.actors if a.node is None}  # not placed yet: no work
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
                        yield call.work, result
                if self.probes or self.suspects:
                    self._check_suspects()
                self._fill()
            finished = True
        finally:
            if not finished:
                self.close()

    def _start_actor(self) -> None:
        handle = self.remote_cls.remote()
        self.actors.append(_Actor(handle, handle.node_id.remote()))  # answered before any work runs

    def _fill(self) -> None:
        # Work goes only to an actor that has been placed on a node: one still waiting for room
        # (its node lost before it started, or a node the cluster still lists but is gone) may never
        # start, and work queued on it would wait with it while the live actors go idle.
        busy = {id(c.actor) for c in (*self.running.values(), *self.probes.values(), *self.suspects)}
        for actor in self.actors:
            if self.queue and id(actor) not in busy and actor.node is not None:
                work = self.queue.pop()
                self.running[work.submit(actor, self.plan)] = _Call(actor, work)

    def _died(self, call: _Call, exc: Exception) -> None:
        """An actor died while running a piece of work: was it the work, or the node?"""
        if getattr(exc, "actor_init_failed", False):  # its __init__ raised: a bug, not a fault
            raise exc
        call.error = exc
        node = self._node_of(call.actor)
        if node is None:  # it died before its first call: the work never ran on it
            self._lost(call, "before it started")
        elif node not in _alive_nodes():
            self._lost(call, f"with node {node[:12]}")
        else:  # the verdict comes from the cluster: Ray marks the node dead, or restarts the actor in place
            self.suspects.append(call)

    def _placed(self, actor: _Actor) -> None:
        """The actor's first answer (its node) came: it can take work; if it died first, ask again."""
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
        """The worker process died on a live node while running this work."""
        work = call.work
        self.crashes[work.key] += 1
        if isinstance(work, _Piece):
            if self.crashes[work.key] > self.max_piece_retries:
                raise JobError(f"a barrier task (piece {work.index}): the worker process died {self.crashes[work.key]} "
                               f"times while running it ({_cause(call.error)}); the run stops (committed partitions "
                               "are kept: re-running resumes)")
            self.queue.append(work)
            return
        if work.crashed is not None:
            raise JobError(f"partition {work.task.part} ({work.task.source_path}): the worker process dies even while "
                           "only reading it; the run stops (committed partitions are kept: re-running resumes)")
        if self.crashes[work.key] > CRASH_RETRIES:
            work = _Partition(work.task, crash_message(self.plan, work.task, call.error))
        self.queue.append(work)

    def _lost(self, call: _Call, how: str) -> None:
        """The actor went with its node (or never ran): retire it, run the work elsewhere."""
        import ray

        self._retire(call.actor)
        self._requeue_lost(call)
        remaining = len(self.queue) + len(self.running) + len(self.probes) + len(self.suspects)
        room = pool_size(self.cpus, ray.cluster_resources().get("CPU", 0), self.workers, remaining)
        if not self.actors or len(self.actors) < room:  # with no actor left, one waits for a node to join
            self._start_actor()
        what = f"partition {call.work.task.part}" if isinstance(call.work, _Partition) else f"barrier piece {call.work.index}"
        self.log(f"  a worker was lost {how}: {what} runs again on the surviving nodes ({len(self.actors)} workers now)")

    def _requeue_lost(self, call: _Call) -> None:
        key = call.work.key
        self.losses[key] += 1
        if self.losses[key] > NODE_LOSS_RETRIES:
            self._crashed(call)
        else:
            self.queue.append(call.work)

    def _retire(self, actor: _Actor) -> None:
        import ray

        ray.kill(actor.handle, no_restart=True)  # else Ray restarts it wherever it fits, maybe nowhere
        self.actors.remove(actor)


def _alive_nodes() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def _cause(exc: Exception | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def crash_message(plan: SegmentPlan, task: PartitionTask, exc: Exception) -> str:
    """The error each document of a partition that kept killing its worker is failed with."""
    stages = "+".join(name for name, _ in plan.stages)
    return (f"{stages}: WorkerCrashed: the worker process died {CRASH_RETRIES + 1} times while processing "
            f"partition {task.part} ({_cause(exc)}); its documents were not processed")
