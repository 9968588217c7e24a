"""A run written to a bucket prefix (``s3://bucket/runs/x``), read for its card by its markers only.

The card reads a run directory (:mod:`jinglian.cards.rundata`), so a bucket run is first fetched into a
local cache directory: ``stats.json``, ``_job.json`` and the data objects that the partition markers
(``_parts/part-NNNNN.json``, :mod:`jinglian.pipeline.run_store`) name, each checked against the marker's
size and sha256. An object that no marker names (a killed writer's upload, anything planted beside the
run) is never fetched, so it cannot change the card. Token shards pushed under ``tokens/`` and a
``tokenizer/`` are fetched as they are: they carry their own manifest and checksums.

The card built in the cache is then written back: ``report/`` plots first, ``README.md`` last, so a
reader who sees the new README also finds its plots.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

from jinglian.cards.rundata import RunDirError
from jinglian.core.object_store import ObjectStore, file_digest
from jinglian.core.run_layout import FINAL_KINDS, LOCK_FILE

RUN_FILES = ("stats.json", "_job.json")
AS_THEY_ARE = ("tokens/", "tokenizer/")  # not partition data: no markers, fetched whole
SHARD_FILES = (".bin", ".idx")
CARD = "README.md"
REPORT = "report"


def is_bucket_run(path: str) -> bool:
    from jinglian.core.filesystem import is_remote

    return is_remote(path)


@contextlib.contextmanager
def fetched_run(url: str, storage_options: dict | None = None, kinds=FINAL_KINDS, shards: bool = True):
    """A temporary local copy of the bucket run at ``url`` (its marked objects of ``kinds``), removed after."""
    store = ObjectStore(url, storage_options)
    with tempfile.TemporaryDirectory(prefix="jinglian-card-") as cache:
        fetch_run(store, cache, kinds, shards)
        yield store, cache


def fetch_run(store: ObjectStore, into: str, kinds=FINAL_KINDS, shards: bool = True) -> list[str]:
    """Copy the run's files into the directory ``into``; return the keys fetched. Without ``shards`` the
    token shards' ``.bin``/``.idx`` stay in the bucket (the card reads only their manifest).

    Raises :class:`RunDirError` when the run is unfinished (no ``stats.json``) or a marked object is
    missing or differs from its marker (the run must be re-run to repair it)."""
    present = store.sizes()
    if "stats.json" not in present:
        raise RunDirError(f"{store.url}: no stats.json (not a finished jinglian run)")
    if LOCK_FILE in present and not _held_here(store.get_bytes(LOCK_FILE)):
        # a run writing the output: its markers may be newer than its stats.json, the card would mix two runs
        raise RunDirError(f"{store.url}: a run holds its lock ({LOCK_FILE}): it is writing the output or was killed; "
                          "build the card when it has ended (a killed run: run the job again to finish it)")
    checks = _marked_objects(store, present, kinds)
    extra = [k for k in present if k in RUN_FILES
             or k.startswith(AS_THEY_ARE) and (shards or not k.startswith("tokens/") or not k.endswith(SHARD_FILES))]
    # a key is a path below the cache: one with "." / ".." parts (anyone may write beside a run) is not fetched
    keys = sorted(k for k in set(checks) | set(extra) if not {"", ".", ".."} & set(k.split("/")))
    locals_ = [os.path.join(into, *key.split("/")) for key in keys]
    for path in locals_:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    if keys:  # one call: fsspec fetches the objects concurrently
        store.fs.get([store.path(k) for k in keys], locals_)
    for key, path in zip(keys, locals_):
        if key in checks:
            size, sha256 = file_digest(path)
            if (size, sha256) != (checks[key].get("size"), checks[key].get("sha256")):
                raise RunDirError(f"{store.url}/{key}: {size} bytes, sha256 {sha256[:12]}…, but its marker names "
                                  f"{checks[key].get('size')} bytes, sha256 {str(checks[key].get('sha256'))[:12]}…; "
                                  "re-run the job to rewrite it")
    return keys


def _held_here(lock: bytes | None) -> bool:
    """Whether this process holds the lock: `jinglian run` keeps it while it builds the job's card."""
    import socket

    try:
        holder = json.loads(lock or b"{}")
    except ValueError:
        return False
    return isinstance(holder, dict) and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname()


def _marked_objects(store: ObjectStore, present: dict[str, int], kinds) -> dict[str, dict]:
    """{key: {size, sha256}} of the data objects of ``kinds`` that the partition markers name."""
    markers = sorted(k for k in present if k.startswith("_parts/") and k.endswith(".json"))
    objects = {}
    for key, raw in sorted(store.get_many(markers).items()):
        try:
            named = json.loads(raw).get("objects") or {}
        except (ValueError, AttributeError):
            raise RunDirError(f"{store.url}/{key}: not a partition marker; re-run the job to rewrite it") from None
        for name, entry in named.items():
            if name.split("/", 1)[0] not in kinds:
                continue
            if present.get(name) != entry.get("size"):
                raise RunDirError(f"{store.url}/{name}: named by {key} with {entry.get('size')} bytes, but the bucket "
                                  f"holds {'none' if name not in present else present[name]}; re-run the job to rewrite it")
            objects[name] = entry
    return objects


def put_card(store: ObjectStore, cache: str, card_path: str) -> str:
    """Upload the plots of ``cache/report/``, delete the figures this build did not draw (as a local build
    removes them), then the card."""
    report = os.path.join(cache, REPORT)
    drawn = sorted(os.listdir(report)) if os.path.isdir(report) else []
    for name in drawn:
        store.put_file(os.path.join(report, name), f"{REPORT}/{name}")
    from jinglian.cards.plots import FIGURE_NAMES

    undrawn = {f"{REPORT}/{name}.png" for name in FIGURE_NAMES if f"{name}.png" not in drawn}
    store.delete(sorted(undrawn & set(store.sizes(f"{REPORT}/"))))
    store.put_file(card_path, CARD)
    return f"{store.url}/{CARD}"
