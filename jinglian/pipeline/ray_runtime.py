"""Where a run executes (in this process or on Ray), how Ray is started, and where Ray's logs go.

Ray's fixed cost on a small machine is seconds (``ray.init``, a worker process
per actor importing the stack, shutdown; BENCHMARKS.md, Engine) while a small
job's work takes a fraction of a second. Unless told otherwise, a run below
``IN_PROCESS_BELOW_BYTES`` of input, or with a single partition, or on a
one-CPU machine, or whose every stage keeps all CPUs busy by itself (tokenize's
encoding threads), runs in this process and says so. An explicit choice always
wins: ``--ray``/``--no-ray``; ``--address`` (or ``RAY_ADDRESS``, which ``ray job
submit`` sets) always runs on that cluster.

Ray writes its own log lines (token-auth notices, actor warnings, forwarded
worker output, the messages of libraries such as Ray Data) to the driver's stdout and
stderr, from Python, from C++ and from background threads. Unless verbose, a
run on Ray points file descriptors 1 and 2 at ``<output>/_logs/ray.log`` for
as long as Ray is up, and the run's own lines go to a duplicate of the
original stdout (:class:`~jinglian.pipeline.progress.Console`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from jinglian.core.filesystem import is_remote
from jinglian.pipeline.job import JobError
from jinglian.pipeline.progress import Console

# Below this much input a run on 2 workers cannot win back Ray's start-up: the in-process
# stages process a few MB/s (filter, extract), so the whole job is a few seconds of work.
IN_PROCESS_BELOW_BYTES = 4 << 20
COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd", ".bz2", ".xz")
COMPRESSION_RATIO = 4  # a compressed input counts as this many times its size
URL_PAGE_BYTES = 64 << 10  # a line of a URL list stands for a page to fetch and extract
SMALL_OBJECT_STORE = 128 << 20  # what flows through the store: task descriptions and results (data goes to files)
LOG_FILE = os.path.join("_logs", "ray.log")


@dataclass
class EngineChoice:
    use_ray: bool
    reason: str


def estimated_input_bytes(tasks) -> int:
    """What the inputs amount to as work, from their sizes (nothing is read but URL lists)."""
    total = 0
    for task in tasks:
        path = task.source_path
        if is_remote(path):  # not asked for (a crawl slice is thousands of requests); such files are rarely small
            total += IN_PROCESS_BELOW_BYTES
            continue
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        if task.input_format == "urls":
            total += _count_lines(path) * URL_PAGE_BYTES
        elif path.endswith(COMPRESSED_SUFFIXES):
            total += size * COMPRESSION_RATIO
        else:
            total += size
    return total


def _count_lines(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _ray_running_here() -> bool:
    ray = sys.modules.get("ray")  # never import Ray just to ask
    return bool(ray is not None and ray.is_initialized())


def choose_engine(use_ray: bool | None, address: str | None, tasks, cpus: int | None = None,
                  ray_running: bool | None = None, stages_busy_every_cpu: bool = False) -> EngineChoice:
    """``use_ray`` None means: decide from the job's size (see the module's docstring).

    ``cpus`` and ``ray_running`` (whether this process already runs Ray) default to this machine's.
    ``stages_busy_every_cpu``: every stage of the job keeps all CPUs busy in one process by itself
    (``Stage.busies_every_cpu``, e.g. tokenize's encoding threads), so on this machine Ray's workers
    would add their start-up and nothing in parallel: such a job runs in-process at any size.
    """
    address = address or os.environ.get("RAY_ADDRESS")
    if use_ray is False:
        if address and not os.environ.get("RAY_ADDRESS"):
            raise JobError("--no-ray and --address contradict each other: choose one")
        return EngineChoice(False, "in this process (--no-ray)")
    if address:
        return EngineChoice(True, f"on the Ray cluster at {address}")
    if use_ray:
        return EngineChoice(True, "on Ray, started in this process (--ray)")
    if _ray_running_here() if ray_running is None else ray_running:
        return EngineChoice(True, "on the Ray instance already running in this process")
    if cpus is None:
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return EngineChoice(False, "in this process: one CPU, nothing to run in parallel (--ray forces Ray)")
    if len(tasks) < 2:
        return EngineChoice(False, "in this process: one input partition, nothing to run in parallel (--ray forces Ray)")
    if stages_busy_every_cpu:
        return EngineChoice(False, "in this process: its stages keep every CPU busy by themselves (threads), "
                                   "Ray's workers would only add their start-up (--ray forces Ray)")
    size = estimated_input_bytes(tasks)
    if size < IN_PROCESS_BELOW_BYTES:
        return EngineChoice(False, f"in this process: the inputs (about {_human_size(size)}) are under "
                                   f"{_human_size(IN_PROCESS_BELOW_BYTES)}, where Ray's start-up costs more than it saves "
                                   "(--ray forces Ray)")
    return EngineChoice(True, f"on Ray, started in this process ({len(tasks)} partitions, about {_human_size(size)} of input)")


def _human_size(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def object_store_bytes(requested_mb: int | None, memory_total: int) -> int:
    """The in-process object store: as asked, else small; never above an eighth of the RAM.

    Partitions and barrier buckets travel as files; the store carries task descriptions, results
    and the segment plan, so the default is a small fixed size, not a share of the RAM.
    """
    if requested_mb:
        return requested_mb * 2**20
    import ray

    floor = ray._private.ray_constants.OBJECT_STORE_MINIMUM_MEMORY_BYTES
    return max(floor, min(SMALL_OBJECT_STORE, memory_total // 8))


class RayLogRedirect:
    """Points fds 1 and 2 at a log file; the console keeps writing to the original stdout."""

    def __init__(self, log_path: str, console: Console):
        self.log_path, self.console = log_path, console
        self._saved: list[int] = []
        self._console_stream = None
        self._previous_override = None

    def __enter__(self) -> "RayLogRedirect":
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, ValueError):
                pass
        self._previous_override = self.console.stream_override
        if self.console.stream_override is None and _writes_to_fd(sys.stdout, 1):
            # the console's stream is the real stdout: keep a duplicate of it before fd 1 moves
            self._console_stream = open(os.dup(1), "w", encoding="utf-8", buffering=1, closefd=True)
            self.console.stream_override = self._console_stream
        self._saved = [os.dup(1), os.dup(2)]
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
        finally:
            os.close(log_fd)
        return self

    def __exit__(self, *exc) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, ValueError):
                pass
        for fd, saved in zip((1, 2), self._saved):
            os.dup2(saved, fd)
            os.close(saved)
        self._saved = []
        if self._console_stream is not None:
            self.console.stream_override = self._previous_override
            self._console_stream.close()
            self._console_stream = None


def _writes_to_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, ValueError, OSError):
        return False


class RaySession:
    """Ray for one run: attach to a cluster or start a lean in-process instance; stop what was started."""

    def __init__(self, console: Console, output_dir: str, verbose: bool = False):
        self.console, self.output_dir, self.verbose = console, output_dir, verbose
        self.started = False
        self._redirect: RayLogRedirect | None = None

    @property
    def log_path(self) -> str:
        return os.path.join(self.output_dir, LOG_FILE)

    def start(self, address: str | None, object_store_mb: int | None) -> bool:
        """Returns whether this session started (or attached) Ray and must stop it."""
        if not self.verbose:
            self._redirect = RayLogRedirect(self.log_path, self.console).__enter__()
            self.console.line(f"  Ray's own log: {os.path.abspath(self.log_path)} (--verbose shows it here)")
        try:
            self.started = _init_ray(address, object_store_mb)
        except BaseException:
            self.stop()
            raise
        return self.started

    def stop(self) -> None:
        try:
            if "ray" in sys.modules:  # the run's workers end with the run, also on a cluster that goes on
                from jinglian.pipeline.actor_pool import close_run_pool

                close_run_pool()
            if self.started:
                import ray

                ray.shutdown()
                self.started = False
        finally:
            if self._redirect is not None:
                self._redirect.__exit__(None, None, None)
                self._redirect = None


# Ray gives its raylet a fixed 30 s to come up; on a machine loaded far beyond its cores it can miss
# that once and make it on the next try
START_ATTEMPTS = 3


def _init_ray(address: str | None, object_store_mb: int | None) -> bool:
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        try:
            ray.init(address=address, log_to_driver=True)
        except ConnectionError as exc:
            hint = "" if os.environ.get("RAY_AUTH_MODE") == "token" else (
                "; if the cluster uses token authentication (Ray's default for `ray start`), set RAY_AUTH_MODE=token"
            )
            raise JobError(f"cannot attach to the Ray cluster at {address!r}: {exc}{hint}") from None
        return True
    import psutil

    store = object_store_bytes(object_store_mb, psutil.virtual_memory().total)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            # "local": always a new in-process instance, never a cluster some other `ray start` left behind
            ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=True,
                     object_store_memory=store)
            return True
        except Exception as exc:  # Ray raises a bare Exception when its raylet misses its start-up deadline
            ray.shutdown()  # stops what the failed start left running
            if attempt == START_ATTEMPTS:
                raise JobError(f"Ray did not start on this machine after {START_ATTEMPTS} tries ({exc}); "
                               "an overloaded machine misses Ray's fixed start-up deadline: retry later, or run with --no-ray") from None
    raise AssertionError("unreachable")
