"""Executing a job: partitions, segments, barriers, resume, statistics.

The stage list is cut into *segments* at every barrier stage. Each segment is
a streaming map over partitions (one input file, or one intermediate file of
the previous segment) run by a pool of Ray actors (``actor_pool``), so heavy
resources load once per worker. Between segments a barrier stage's
``prepare`` sees every row that reached it, with :class:`RayOps` to compute
on them in a distributed way. Before the first segment, every stage's
``before_run`` runs once on the driver. Every partition, barrier and
``before_run`` report commits a marker file; a re-run skips whatever is committed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass

from jinglian.pipeline.actor_pool import pool_size, run_on_actor_pool  # noqa: F401 (pool_size: tests)
from jinglian.core.atomic import sweep_temporaries, write_json_atomic
from jinglian.core.dataops import LocalOps, TableSet
from jinglian.pipeline.ray_ops import RayOps
from jinglian.pipeline.job import Job, JobError
from jinglian.pipeline.partition import PartitionTask, SegmentPlan, SegmentRunner
from jinglian.pipeline.progress import Console, SegmentProgress, Ticking, rows_per_file
from jinglian.pipeline.ray_runtime import RaySession, choose_engine
from jinglian.pipeline import run_store
from jinglian.pipeline.stats import build_stats
from jinglian.stages import generator
from jinglian.core.context import RunContext
from jinglian.core.stage import BarrierStage, Stage


@dataclass
class RunOptions:
    address: str | None = None  # Ray cluster address (always used when given); None starts Ray in-process
    use_ray: bool | None = None  # True: Ray; False: every partition in this process; None: by the job's size
    workers: int | None = None  # actors per segment; default: the cluster's CPUs
    overwrite: bool = False
    batch_size: int = 256
    object_store_mb: int | None = None
    quiet: bool = False
    verbose: bool = False  # Ray's own log lines on the console instead of <output>/_logs/ray.log


def run_job(job: Job, options: RunOptions) -> dict:
    """Run (or resume) ``job``; return the statistics also written to ``stats.json``.

    Stages check their resources first; then the output is claimed (location checked, locked for
    the run, marked) and a watchdog ends what Ray left behind should this process die.
    """
    from jinglian.pipeline.output_guard import claim_output
    from jinglian.pipeline.preflight import check_stages
    from jinglian.pipeline.ray_reaper import SessionWatchdog, driver_is_gone, reap

    check_stages(job)
    lock = claim_output(job, options.overwrite, _layout(job))
    try:
        previous = lock.previous_holder
        if previous and previous.get("host") == lock.host and driver_is_gone(previous["pid"], previous["since"]):
            reap(previous["pid"], previous["since"])  # a killed run's Ray leftovers, if its watchdog died too
        watchdog = SessionWatchdog(lock.since)
        try:
            return _run_claimed(job, options, lock)
        except Exception as exc:
            setup_error = _stage_setup_error(exc)
            if setup_error is None:
                raise
            raise JobError(f"{job.file}: {setup_error}") from None
        finally:
            watchdog.finish()
    finally:
        lock.release()


def _run_claimed(job: Job, options: RunOptions, lock=None) -> dict:
    start = time.time()
    local = run_store.local_root(job)  # the output, or a bucket output's local staging
    store = run_store.output_store(job) if run_store.is_remote_output(job.output) else None
    sweep_temporaries(local)
    if store is not None:
        run_store.sweep_unmarked(store)  # a killed run's uploads that no marker vouches for
    sites = _generate_inputs(job)
    console = Console(quiet=options.quiet)
    log = console.line
    ray_session = RaySession(console, local, verbose=options.verbose)
    try:
        tasks = _input_tasks(job)
        if not tasks:
            raise JobError(f"{job.file}: input: no input files found")
        busy = all(spec.cls.busies_every_cpu(spec.params) for spec in job.stages)
        engine = choose_engine(options.use_ray, options.address, tasks, stages_busy_every_cpu=busy)
        options = dataclasses.replace(options, use_ray=engine.use_ray)
        log(f"jinglian: job {job.name!r}: {len(tasks)} partitions, {len(job.stages)} stages -> {job.output}")
        log(f"jinglian: running {engine.reason}")
        barrier_stats = _before_run(job, log)  # reported in stats.json like a barrier's prepare
        if options.use_ray:
            ray_session.start(options.address, options.object_store_mb)
        segments = _segments(job)
        if store is not None and len(segments) > 1 and not job.work_dir and options.use_ray:
            _refuse_split_staging(job)
        part_results: list[dict] = []
        for seg_index, (barrier_index, stage_indices) in enumerate(segments):
            if barrier_index is not None:
                rows = TableSet([_plan(job, seg_index - 1, segments, options).intermediate_path(t.part) for t in tasks])
                prepared = _run_barrier(job, barrier_index, rows, options, console)
                barrier_stats[barrier_index] = {**barrier_stats.get(barrier_index, {}), **prepared}
            plan = _plan(job, seg_index, segments, options)
            seg_tasks = tasks if seg_index == 0 else [
                PartitionTask(part=t.part, source_path=_plan(job, seg_index - 1, segments, options).intermediate_path(t.part))
                for t in tasks
            ]
            results = _run_segment(job, plan, seg_tasks, options, console)
            part_results.extend(results)
        for index, finished in _after_run(job, log).items():
            barrier_stats[index] = {**barrier_stats.get(index, {}), **finished}
        stats = build_stats(job, segments, part_results, barrier_stats, wall_s=time.time() - start)
        if store is None:
            write_json_atomic(os.path.join(job.output, "stats.json"), stats, indent=2)
        elif getattr(lock, "lost", False):  # another run took the lapsed lease: its stats.json, not ours
            raise JobError(f"{job.file}: output {job.output!r}: this run stopped renewing its lock for longer than its "
                           "lease and another run took it over; the partitions stay committed: run the job again")
        else:
            run_store.put_json(store, "stats.json", stats, indent=2)
            run_store.sweep_unmarked(store)
        sweep_temporaries(local)
        return stats
    finally:
        for site in sites:
            site.close()
        ray_session.stop()


def _refuse_split_staging(job: Job) -> None:
    """A bucket output keeps intermediates in local staging: with a barrier on a multi-node cluster they
    must be on a path every node sees, or the barrier would read only the driver node's share."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) > 1:
        raise JobError(f"{job.file}: the job has a barrier stage and writes to {job.output}: on a cluster of "
                       f"{len(nodes)} nodes its intermediates need `work_dir:` on storage every node sees "
                       "(README: Running on a Ray cluster)")


def _stage_setup_error(exc: BaseException):
    """The StageSetupError behind ``exc``, also when it arrives wrapped by Ray (``RayTaskError.cause``)."""
    from jinglian.pipeline.apply import StageSetupError

    for _ in range(20):
        if exc is None:
            return None
        cause = getattr(exc, "cause", None)  # Ray's wrapper is also an instance of the cause's class
        if isinstance(exc, StageSetupError) and not isinstance(cause, BaseException):
            return exc
        exc = cause if isinstance(cause, BaseException) else exc.__cause__
    return None


def _layout(job: Job) -> list[list[str]]:
    """Stage names per segment, recorded with the run: it is fixed by the stage classes, not the job file,
    so a jinglian version that cuts segments differently must not resume (misread) this run's markers."""
    return [[job.stages[i].name for i in indices] for _, indices in _segments(job)]


def _generate_inputs(job: Job) -> list:
    """Inputs the job asks a generator to make; returns what to close when the job ends (servers)."""
    sites = []
    for spec in job.inputs:
        if spec.generate:
            try:
                site = generator(spec.generate)(spec.generate, os.path.dirname(spec.path) or ".")
            except OSError as exc:  # e.g. the demo site's port is taken by another demo: one line, not a traceback
                for started in sites:
                    started.close()
                raise JobError(f"input generator {spec.generate!r}: {exc}") from None
            if site is not None:
                sites.append(site)
    return sites


def _input_tasks(job: Job) -> list[PartitionTask]:
    tasks = []
    for spec in job.inputs:
        for path in spec.files():
            tasks.append(PartitionTask(len(tasks), path, spec.format, spec.source, dict(spec.options)))
    return tasks


def _segments(job: Job) -> list[tuple[int | None, list[int]]]:
    """[(index of the barrier stage opening the segment or None, stage indices in it)]."""
    segments: list[tuple[int | None, list[int]]] = [(None, [])]
    for i, spec in enumerate(job.stages):
        if issubclass(spec.cls, BarrierStage):
            segments.append((i, [i]))
        else:
            segments[-1][1].append(i)
    return segments


def _plan(job: Job, seg_index: int, segments, options: RunOptions) -> SegmentPlan:
    _, stage_indices = segments[seg_index]
    remote = run_store.is_remote_output(job.output)
    return SegmentPlan(
        index=seg_index,
        stages=[(job.stages[i].name, job.stages[i].params) for i in stage_indices],
        output_dir=run_store.local_root(job),
        final=seg_index == len(segments) - 1,
        batch_size=options.batch_size,
        seed=job.seed,
        store_url=job.output if remote else None,
        storage_options=dict(job.output_storage_options) if remote else {},
    )


def _driver_stage(job: Job, index: int):
    """An instance of stage ``index`` on the driver, with the context its workers get."""
    spec = job.stages[index]
    local = run_store.local_root(job)
    work_dir = os.path.join(local, "_work", f"stage-{spec.name}")
    return spec.cls(spec.params, RunContext(output_dir=local, work_dir=work_dir, seed=job.seed))


def _before_run(job: Job, log) -> dict[int, dict]:
    """Call every stage's ``before_run`` that does something; {stage index: its statistics}."""
    reports = {}
    for index, spec in enumerate(job.stages):
        if spec.cls.before_run is Stage.before_run:
            continue
        marker = os.path.join(run_store.local_root(job), "_work", f"before-run-{index}-{spec.name}.json")
        if os.path.exists(marker):
            log(f"  [{spec.name}] already prepared before the run (resume)")
            with open(marker, encoding="utf-8") as f:
                reports[index] = json.load(f)
            continue
        start = time.perf_counter()
        try:
            stats = dict(_driver_stage(job, index).before_run() or {})
        except (OSError, ValueError) as exc:  # a missing model or unreadable training source: the job's fault
            raise JobError(f"{job.file}: stage {spec.name}: {exc}") from exc
        if stats:
            stats["wall_s"] = round(time.perf_counter() - start, 3)
            log(f"  [{spec.name}] prepared before the run in {stats['wall_s']} s")
            os.makedirs(os.path.dirname(marker), exist_ok=True)
            write_json_atomic(marker, stats, indent=2)
            reports[index] = stats
    return reports


def _after_run(job: Job, log) -> dict[int, dict]:
    """Call every stage's ``after_run`` that does something; {stage index: its statistics}."""
    reports = {}
    for index, spec in enumerate(job.stages):
        if spec.cls.after_run is Stage.after_run:
            continue
        start = time.perf_counter()
        try:
            stats = dict(_driver_stage(job, index).after_run() or {})
        except (OSError, ValueError) as exc:  # e.g. blend weights naming a source no document had
            raise JobError(f"{job.file}: stage {spec.name}: {exc}") from exc
        stats["wall_s"] = round(time.perf_counter() - start, 3)
        log(f"  [{spec.name}] finished after the run in {stats['wall_s']} s")
        reports[index] = stats
    return reports


def _run_barrier(job: Job, index: int, rows: TableSet, options: RunOptions, console: Console) -> dict:
    log = console.line
    spec = job.stages[index]
    marker = os.path.join(run_store.local_root(job), "_work", f"barrier-{index}-{spec.name}.json")
    if os.path.exists(marker):
        log(f"  [{spec.name}] barrier already prepared (resume)")
        with open(marker, encoding="utf-8") as f:
            return json.load(f)
    stage = _driver_stage(job, index)
    ops_dir = os.path.join(stage.context.work_dir, "ops")
    ops = RayOps(ops_dir, num_cpus=stage.num_cpus) if options.use_ray else LocalOps(ops_dir)
    log(f"  [{spec.name}] preparing over {rows.num_rows()} rows in {len(rows)} partitions")
    start = time.perf_counter()
    with Ticking(console, f"  [{spec.name}] preparing"):
        stage.setup()
        stats = dict(stage.prepare(rows, ops) or {})
    stats["wall_s"] = round(time.perf_counter() - start, 3)
    log(f"  [{spec.name}] prepared in {stats['wall_s']:.1f} s")
    shutil.rmtree(ops_dir, ignore_errors=True)
    write_json_atomic(marker, stats, indent=2)
    return stats


def _run_segment(job: Job, plan: SegmentPlan, tasks: list[PartitionTask], options: RunOptions, console: Console) -> list[dict]:
    names = [name for name, _ in plan.stages]
    done, todo = [], []
    in_bucket = None
    if plan.final and plan.store_url is not None:  # a bucket output's final parts: committed by the bucket's markers
        in_bucket = run_store.committed(plan.store(), [t.part for t in tasks])
    for task in tasks:
        if in_bucket is not None:
            if task.part in in_bucket:
                done.append(in_bucket[task.part])
            else:
                todo.append(task)
            continue
        marker = plan.marker_path(task.part)
        if os.path.exists(marker):
            with open(marker, encoding="utf-8") as f:
                done.append(json.load(f))
        else:
            todo.append(task)
    label = f"segment {plan.index} [{', '.join(names) or 'read'}]"
    console.line(f"  {label}: {len(todo)} partitions to run, {len(done)} already committed")
    progress = SegmentProgress(console, label, names, [t.part for t in tasks], done, **_progress_totals(tasks))
    try:
        if todo:
            results_iter = _ray_results(plan, todo, options, console.line) if options.use_ray else _local_results(plan, todo)
            for result in results_iter:
                progress.update(result)
                done.append(result)
    except BaseException:
        progress.stop()
        raise
    progress.finish()
    return sorted(done, key=lambda r: r["part"])


def _progress_totals(tasks: list[PartitionTask]) -> dict:
    """Input files of the run: their sizes drive the ETA; a later segment's intermediates: their rows."""
    if tasks and tasks[0].input_format is None:
        return {"rows_in": rows_per_file({t.part: t.source_path for t in tasks if os.path.exists(t.source_path)})}
    return {"weights": {t.part: os.path.getsize(t.source_path) for t in tasks if os.path.exists(t.source_path)}}


def _local_results(plan: SegmentPlan, tasks: list[PartitionTask]):
    runner = SegmentRunner(plan, [_stage_cls(name) for name, _ in plan.stages])
    for task in tasks:
        yield runner.run(task)


def _stage_cls(name: str):
    from jinglian.stages import stage_class

    return stage_class(name)


def _ray_results(plan: SegmentPlan, tasks: list[PartitionTask], options: RunOptions, log):
    cpus = max([_stage_cls(name).num_cpus for name, _ in plan.stages] or [1.0])
    yield from run_on_actor_pool(plan, tasks, cpus, options.workers, log)
