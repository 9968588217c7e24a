"""A run's output directory: which directories a run may write to, delete in, and when.

Three rules keep ``jinglian run --output DIR [--overwrite]`` from ever destroying
something that is not a run:

* **Location.** The output must not be ``/``, the home directory or the working
  directory, must not contain any of them, and must not be, contain or lie inside
  an input of the job (its input files and directories, the job file): a
  ``--overwrite`` there would delete the inputs, and an output inside an input
  directory would be read back as input by the next run.
* **Ownership.** A directory is a run only when it carries the run marker
  (``_job.json``) that the first run into it wrote. ``--overwrite`` removes only
  the entries a run writes (:data:`RUN_ENTRIES`) of a marked directory; anything
  else in it stays. A directory holding other files and no marker is never
  written to: the user has to name a new output.
* **One run at a time.** The run holds an exclusive ``flock`` on a lock file
  inside the output for as long as it runs. The kernel drops the lock when its
  holder dies however it dies, so a killed run never leaves a stale lock behind;
  the lock file records who holds it (pid, host, start) for the message the
  second run prints.

An output on object storage (``s3://…``) follows the same rules with a lock object and a lease:
:mod:`jinglian.pipeline.bucket_guard`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os
import shutil
import socket
import time

from jinglian.core.atomic import write_json_atomic
from jinglian.core.run_layout import LOCK_FILE, RUN_MARKER
from jinglian.core.filesystem import has_magic, is_remote, protocol
from jinglian.pipeline.job import Job, JobError

# Everything a run (curation, card, pretraining after the run) writes at the top of its output,
# in the order --overwrite removes it: commit markers first, the run marker last, so that a
# removal cut short leaves a directory that is still a run and resumes or overwrites cleanly.
RUN_ENTRIES = (
    "_parts", "_work", "stats.json",
    "docs", "rejected", "errors", "tokenizer", "tokens", "warc", "report", "README.md", "pretrain", "_logs",
    RUN_MARKER,
)


class OutputRefused(JobError):
    """The output directory cannot be used for this run; the message says why and what to do."""


def check_location(job: Job) -> None:
    """Refuse an output that is or contains ``/``, home or the working directory, or overlaps an input."""
    if is_remote(job.output):
        return _check_url_location(job)
    output = _real(job.output)
    protected = {"the root directory": "/", "your home directory": os.path.expanduser("~"),
                 "the working directory": os.getcwd()}
    for what, path in protected.items():
        path = _real(path)
        if output == path or _inside(path, output):
            relation = "is" if output == path else "contains"
            raise OutputRefused(f"{job.file}: output {job.output!r} {relation} {what} ({path}); "
                                "choose a dedicated --output directory")
    for path in input_paths(job):
        real = _real(path)
        if output == real:
            relation = "is"
        elif _inside(real, output):
            relation = "contains"
        elif _inside(output, real):
            relation = "lies inside"
        else:
            continue
        raise OutputRefused(f"{job.file}: output {job.output!r} {relation} the input {path!r}; "
                            "choose an --output outside the job's inputs")


def _check_url_location(job: Job) -> None:
    """An output URL must not be, contain or lie inside an input URL (a paths list's prefix included)."""
    output = _url(job.output)
    for spec in job.inputs:
        named = [spec.path] + ([spec.prefix] if spec.paths_list and spec.prefix else [])
        if has_magic(spec.path):
            named.append(_glob_directory(spec.path))
        for path in named:
            if protocol(path) != protocol(job.output):
                continue
            url = _url(path)
            relation = "is" if url == output else "contains" if url.startswith(output + "/") else \
                "lies inside" if output.startswith(url + "/") else None
            if relation:
                raise OutputRefused(f"{job.file}: output {job.output!r} {relation} the input {path!r}; "
                                    "choose an --output outside the job's inputs")


def _url(path: str) -> str:
    return path.rstrip("/")


def input_paths(job: Job) -> list[str]:
    """What the run reads: the job file, each input path (each match of a glob) and generated inputs' directories."""
    paths = [job.file]
    if job.pretrain is not None:
        paths.append(job.pretrain.config)
    cwd = _real(os.getcwd())
    for spec in job.inputs:
        if any(ch in spec.path for ch in "*?["):
            paths.extend(glob.glob(spec.path, recursive=True))
            # the glob's fixed directory counts too, unless it is the working directory or above it
            # (already protected; an output inside it would be refused for every job with `*.jsonl`)
            fixed = _glob_directory(spec.path)
            if not (_real(fixed) == cwd or _inside(cwd, _real(fixed))):
                paths.append(fixed)
        else:
            paths.append(spec.path)
        if spec.generate:
            paths.append(os.path.dirname(spec.path) or ".")  # the demo writes its inputs there
    return paths


def _glob_directory(pattern: str) -> str:
    """The directory part of a glob before its first wildcard: ``data/*/x.jsonl`` -> ``data``."""
    parts = []
    for part in pattern.split(os.sep):
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return os.sep.join(parts) or "."


def read_marker(output: str) -> dict | None:
    """The run marker of ``output``, or None when it is not a jinglian run."""
    try:
        with open(os.path.join(output, RUN_MARKER), encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and "fingerprint" in marker else None


def foreign_entries(output: str) -> list[str]:
    """Names in ``output`` when it holds anything and is not a run (the lock file of a refused run aside)."""
    if not os.path.isdir(output) or read_marker(output) is not None:
        return []
    return sorted(name for name in os.listdir(output) if name != LOCK_FILE)


def remove_run_files(output: str) -> list[str]:
    """Delete the entries a run writes in the run directory ``output``; return their names. Nothing else is touched."""
    if read_marker(output) is None:
        raise OutputRefused(f"output {output!r} is not a jinglian run; nothing in it is deleted")
    removed = []
    for name in RUN_ENTRIES:
        path = os.path.join(output, name)
        if os.path.islink(path) or os.path.isfile(path):
            os.remove(path)  # a link is removed, never followed
        elif os.path.isdir(path):
            shutil.rmtree(path)
        else:
            continue
        removed.append(name)
    return removed


def claim_output(job: Job, overwrite: bool, layout: list) -> "OutputLock":
    """Check, lock and mark ``job.output`` for this run; return the held lock.

    ``layout`` is the run's segment layout (stage names per segment), recorded in the marker: a
    jinglian version that cuts segments differently must not resume this run's markers.
    """
    output = job.output
    check_location(job)
    if is_remote(output):
        from jinglian.pipeline.bucket_guard import claim_bucket

        return claim_bucket(job, overwrite, layout)
    if os.path.lexists(output) and not os.path.isdir(output):
        raise OutputRefused(f"{job.file}: output {output!r} exists and is not a directory; choose another --output")
    if not os.path.exists(os.path.join(output, LOCK_FILE)):
        _refuse_foreign(job)  # before creating the lock file, so a refused directory is left exactly as it was
    os.makedirs(output, exist_ok=True)
    lock = OutputLock.acquire(output, job.file)
    try:
        _refuse_foreign(job)  # again under the lock: another run may have changed it meanwhile
        settle_marker(job, layout, read_marker(output), overwrite, lambda: remove_run_files(output),
                      lambda marker: write_json_atomic(os.path.join(output, RUN_MARKER), marker))
    except BaseException:
        lock.release()
        raise
    return lock


def settle_marker(job: Job, layout: list, previous: dict | None, overwrite: bool, remove, write) -> bool:
    """Start a run (``remove`` the previous one's entries on --overwrite, ``write`` the marker) or check that
    the run found may be resumed; whether this run starts afresh."""
    if previous is not None and overwrite:
        remove()
        previous = None
    if previous is None:
        write({"fingerprint": job.fingerprint(), "segments": layout, "file": job.file, "name": job.name, "job": job.raw})
        return True
    check_same_run(job, previous, layout)
    return False


def check_same_run(job: Job, previous: dict, layout: list) -> None:
    """Refuse to resume a run of another job, or one whose markers this version would misread."""
    if previous.get("fingerprint") != job.fingerprint():
        raise OutputRefused(
            f"{job.file}: output {job.output!r} holds a run of a different job "
            f"(fingerprint {previous.get('fingerprint')} from {previous.get('file')}, this job is {job.fingerprint()}); "
            "use --overwrite to replace that run or --output for a new directory")
    if previous.get("segments") != layout:
        raise OutputRefused(
            f"{job.file}: output {job.output!r} was written with segments {previous.get('segments')}, this version of "
            f"jinglian runs {layout}; its markers cannot be resumed: use --overwrite or another --output")


def _refuse_foreign(job: Job) -> None:
    names = foreign_entries(job.output)
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise OutputRefused(f"{job.file}: output {job.output!r} is not a jinglian run (it holds {shown}); "
                            "jinglian never writes into or deletes such a directory: choose a new --output")


class OutputLock:
    """An exclusive, per-process re-entrant lock on an output directory.

    Re-entrant so that the command around :func:`run_job` (which goes on to build the card and
    pretrain into the same directory) can keep the lock the run took: see :func:`keep_locks`.
    """

    _held: dict[str, "OutputLock"] = {}
    _kept = 0  # > 0 while inside keep_locks(): releases wait until it ends

    def __init__(self, key: str, fd: int):
        self.key, self.fd, self.count = key, fd, 1
        self.host, self.since, self.previous_holder = "", 0.0, None

    @classmethod
    def acquire(cls, output: str, job_file: str = "") -> "OutputLock":
        key = _real(output)
        held = cls._held.get(key)
        if held is not None:
            held.count += 1
            return held
        fd = os.open(os.path.join(output, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            prefix = f"{job_file}: " if job_file else ""
            raise OutputRefused(f"{prefix}output {output!r} is in use by another jinglian run{holder}; "
                                "wait for it to finish or choose another --output") from None
        previous = _read_info(fd)
        since = time.time()
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": since,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        lock = cls._held[key] = cls(key, fd)
        lock.host, lock.since = info["host"], since
        # who held it last (a finished or a dead run), for cleaning up after a killed one
        lock.previous_holder = previous if isinstance(previous.get("pid"), int) and isinstance(
            previous.get("since"), float) else None
        return lock

    def release(self) -> None:
        self.count -= 1
        if self.count > 0 or OutputLock._kept:
            return
        self._close()

    def _close(self) -> None:
        if OutputLock._held.get(self.key) is self:
            del OutputLock._held[self.key]
            os.close(self.fd)  # closing the only descriptor drops the flock; the file stays (unlinking would race)


@contextlib.contextmanager
def keep_locks():
    """Output locks taken inside this block stay held until it ends (the whole ``jinglian run`` command)."""
    OutputLock._kept += 1
    try:
        yield
    finally:
        OutputLock._kept -= 1
        if not OutputLock._kept:
            for lock in [lk for lk in OutputLock._held.values() if lk.count <= 0]:
                lock._close()


def _read_info(fd: int) -> dict:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _read_holder(fd: int) -> str:
    return describe_holder(_read_info(fd))


def describe_holder(info: dict) -> str:
    """`` (pid N on HOST, started T)`` for the refusal message; empty when the holder is not known."""
    if not all(k in info for k in ("pid", "host", "started")):
        return ""  # the holder has not written its details yet
    return f" (pid {info['pid']} on {info['host']}, started {info['started']})"


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def _inside(path: str, directory: str) -> bool:
    """Whether ``path`` lies strictly inside ``directory`` (both real, absolute)."""
    return path != directory and path.startswith(directory.rstrip(os.sep) + os.sep)
