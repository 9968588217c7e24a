"""A run whose output is a bucket prefix (``s3://bucket/runs/x``, any fsspec URL): commit without rename.

In the bucket, under the same names as a local run::

    _job.json                  run marker (written at the claim; --overwrite removes only a marked run's entries)
    .jinglian.lock             the output lock: holder and lease (output_guard.ObjectLock)
    docs/part-NNNNN.parquet    data objects, each uploaded whole from a finished local file
    rejected/…  errors/…
    _parts/part-NNNNN.json     the partition's counts and each data object's size and sha256, written last
    stats.json

A partition counts only when its marker exists and every data object it names has the named size;
readers and resume go by the markers. A data object without a marker is a killed writer's leftover:
the partition runs again and overwrites it, and the sweep at the start and end of a run deletes one
that no task will overwrite. Bytes are those of a local run: the same Parquet file is uploaded.

Everything else stays in a local *staging* directory (``work_dir:`` in the job, default under the
system temp directory, keyed by the output URL): ``_work`` (intermediates between segments, their
markers, barrier verdicts, stages' scratch), ``_logs`` and final parts while they are written. A
multi-node job with a barrier needs ``work_dir`` on storage every node sees. When the staging is gone,
the earlier segments run again and the final one still skips what the bucket's markers commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile

from jinglian.core.filesystem import is_remote
from jinglian.core.object_store import ObjectStore, file_digest
from jinglian.core.run_layout import FINAL_KINDS

STAGING_MARKER = "_staging.json"
STAGING_ENTRIES = ("_work", "_logs", *FINAL_KINDS)  # what a run writes in its staging directory
_PART = re.compile(r"^part-(\d+)\.parquet$")


def is_remote_output(output: str) -> bool:
    return is_remote(output)


def staging_dir(job) -> str:
    """The local directory of a remote-output run: the job's ``work_dir``, else one per output URL."""
    if job.work_dir:
        return job.work_dir
    digest = hashlib.sha256(job.output.rstrip("/").encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), "jinglian-staging", digest)


def local_root(job) -> str:
    """Where a run's local files go: the output itself, or the staging directory of a bucket output."""
    return staging_dir(job) if is_remote_output(job.output) else job.output


def output_store(job) -> ObjectStore:
    return ObjectStore(job.output, job.output_storage_options)


def prepare_staging(job, layout: list, reset: bool) -> None:
    """Make the staging directory belong to this run: what a run of another job (or the run before an
    --overwrite) left there is removed. A directory of other files is never written to."""
    path = staging_dir(job)
    mine = {"output": job.output.rstrip("/"), "fingerprint": job.fingerprint(), "segments": layout}
    try:
        with open(os.path.join(path, STAGING_MARKER), encoding="utf-8") as f:
            current = json.load(f)
    except (OSError, ValueError):
        current = None
    if current is None and os.path.isdir(path):
        foreign = sorted(n for n in os.listdir(path) if n not in STAGING_ENTRIES)
        if foreign:
            from jinglian.pipeline.output_guard import OutputRefused

            raise OutputRefused(f"{job.file}: work_dir {path!r} holds other files ({', '.join(foreign[:3])}); "
                                "choose an empty or new work_dir")
    if reset or current != mine:
        for name in STAGING_ENTRIES:
            shutil.rmtree(os.path.join(path, name), ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    from jinglian.core.atomic import write_json_atomic

    write_json_atomic(os.path.join(path, STAGING_MARKER), mine)


def marker_key(part: int) -> str:
    return f"_parts/part-{part:05d}.json"


def commit_part(store: ObjectStore, part: int, files: dict[str, str], result: dict) -> None:
    """Upload a final partition's local files (``{kind: path}``) whole, then its marker; remove the files."""
    objects = {}
    for kind, local in files.items():
        key = f"{kind}/part-{part:05d}.parquet"
        size, sha256 = file_digest(local)
        store.put_file(local, key)
        objects[key] = {"size": size, "sha256": sha256}
    marker = {**result, "objects": objects}
    store.put_bytes(marker_key(part), json.dumps(marker, ensure_ascii=False, sort_keys=True).encode())
    for local in files.values():
        os.remove(local)


def committed(store: ObjectStore, parts: list[int]) -> dict[int, dict]:
    """{part: its counts} of the partitions the bucket commits: a marker whose objects all exist with their sizes."""
    markers = store.sizes("_parts/")
    wanted = [p for p in parts if marker_key(p) in markers]
    if not wanted:
        return {}
    data = {}
    for kind in FINAL_KINDS:
        data.update(store.sizes(f"{kind}/"))
    done = {}
    raws = store.get_many([marker_key(p) for p in wanted])
    for part in wanted:
        raw = raws.get(marker_key(part))
        try:
            result = json.loads(raw) if raw is not None else None
        except ValueError:
            result = None
        if not isinstance(result, dict):
            continue
        objects = result.pop("objects", None) or {}
        if objects and all(data.get(key) == entry.get("size") for key, entry in objects.items()):
            done[part] = result
    return done


def sweep_unmarked(store: ObjectStore) -> list[str]:
    """Delete data objects of partitions that have no marker and abort unfinished uploads (a killed
    writer's); return their keys. Runs only while no writer of this output runs (under its lock)."""
    markers = store.sizes("_parts/")
    aborted, leftovers = [], []
    for kind in FINAL_KINDS:
        aborted += store.abort_uploads(f"{kind}/")
        for key in store.sizes(f"{kind}/"):
            match = _PART.match(key[len(kind) + 1:])
            if match and marker_key(int(match[1])) not in markers:
                leftovers.append(key)
    store.delete(leftovers)
    return aborted + leftovers


def put_json(store: ObjectStore, key: str, obj, indent: int | None = None) -> None:
    """The object ``key`` as :func:`jinglian.core.atomic.write_json_atomic` would write the file."""
    store.put_bytes(key, json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=indent).encode())
