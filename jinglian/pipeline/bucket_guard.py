"""The output rules of :mod:`jinglian.pipeline.output_guard` for an output on object storage.

* **Ownership.** A prefix is a run when it holds the run marker ``_job.json``; a prefix holding other
  objects and no marker is never written to, and ``--overwrite`` deletes only the run's own entries
  (``RUN_ENTRIES``) of a marked prefix: every other key under it stays.
* **One run at a time.** There is no flock on a bucket. The lock is the object ``.jinglian.lock``,
  created only if absent (S3's conditional ``If-None-Match: *``) and holding its holder (pid, host,
  start) and a lease the holder renews every ``RENEW_S`` seconds by a write conditional on the etag it
  last wrote. A second run finds it and is refused with the holder named. A killed run cannot delete
  it, so a lock counts as dead when its holder's process is gone (same host) or its lease ran out
  (``LEASE_S`` without renewal, by this machine's clock): then it is taken over by a write
  conditional on the dead lock's etag, so that of two runs taking over at once only one wins.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

from jinglian.core.object_store import ObjectStore
from jinglian.pipeline.output_guard import (LOCK_FILE, RUN_ENTRIES, RUN_MARKER, OutputLock, OutputRefused,
                                            describe_holder, settle_marker)
from jinglian.pipeline.run_store import output_store, prepare_staging, put_json

LEASE_S = 120.0  # a lock not renewed for this long belongs to a run that died
RENEW_S = 20.0


def claim_bucket(job, overwrite: bool, layout: list) -> "ObjectLock":
    """:func:`jinglian.pipeline.output_guard.claim_output` for a bucket prefix."""
    store = output_store(job)
    if store.get_bytes(LOCK_FILE) is None:
        _refuse_foreign(job, store)  # before creating the lock, so a refused prefix is left exactly as it was
    lock = ObjectLock.acquire_in(store, job.file)
    try:
        _refuse_foreign(job, store)
        fresh = settle_marker(job, layout, read_bucket_marker(store), overwrite, lambda: remove_bucket_run(store),
                              lambda marker: put_json(store, RUN_MARKER, marker))
        prepare_staging(job, layout, reset=fresh)  # what a run before --overwrite staged is not this run's
    except BaseException:
        lock.release()
        raise
    return lock


def read_bucket_marker(store: ObjectStore) -> dict | None:
    raw = store.get_bytes(RUN_MARKER)
    try:
        marker = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return marker if isinstance(marker, dict) and "fingerprint" in marker else None


def remove_bucket_run(store: ObjectStore) -> list[str]:
    """Delete the run's own entries of a marked prefix, the marker last; return the keys deleted."""
    if read_bucket_marker(store) is None:
        raise OutputRefused(f"output {store.url!r} is not a jinglian run; nothing in it is deleted")
    keys = store.sizes()
    removed = []
    for name in RUN_ENTRIES:
        mine = sorted(k for k in keys if k == name or k.startswith(name + "/"))
        store.delete(mine)
        removed += mine
    return removed


def _refuse_foreign(job, store: ObjectStore) -> None:
    if read_bucket_marker(store) is not None:
        return
    names = [n for n in store.names() if n != LOCK_FILE]
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise OutputRefused(f"{job.file}: output {job.output!r} is not a jinglian run (it holds {shown}); "
                            "jinglian never writes into or deletes such a prefix: choose a new --output")


class ObjectLock(OutputLock):
    """The output lock as an object with a renewed lease (see the module's docstring)."""

    def __init__(self, key: str, store: ObjectStore, tag: str, info: dict):
        super().__init__(key, -1)
        self.store, self.tag, self.info = store, tag, info
        self.host, self.since = info["host"], info["since"]
        self.lost = False  # the lease was taken over while this run held it (it had stopped renewing)
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="jinglian-lock-lease", daemon=True)

    @classmethod
    def acquire_in(cls, store: ObjectStore, job_file: str = "") -> "ObjectLock":
        held = cls._held.get(store.url)
        if held is not None:
            held.count += 1
            return held
        since = time.time()
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": since,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)),
                "renewed": since, "lease_s": LEASE_S}
        body = json.dumps(info).encode()
        previous = None
        tag = store.create(LOCK_FILE, body)
        if tag is None:
            current = store.read_tagged(LOCK_FILE)
            holder = _parse(current[0]) if current else {}
            if current is not None and _stale(holder):
                tag = store.replace(LOCK_FILE, body, current[1])
                previous = holder if isinstance(holder.get("pid"), int) and isinstance(holder.get("since"), float) else None
            elif current is None:  # released between the two requests
                tag = store.create(LOCK_FILE, body)
            if tag is None:
                prefix = f"{job_file}: " if job_file else ""
                raise OutputRefused(f"{prefix}output {store.url!r} is in use by another jinglian run"
                                    f"{describe_holder(holder)}; wait for it to finish or choose another --output")
        lock = cls._held[store.url] = cls(store.url, store, tag, info)
        lock.previous_holder = previous
        lock._renewer.start()
        return lock

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_S) and self.renew():
            pass

    def renew(self) -> bool:
        """Extend the lease; False once the lock was taken over (this run had stopped renewing for a lease)."""
        self.info["renewed"] = time.time()
        try:
            tag = self.store.replace(LOCK_FILE, json.dumps(self.info).encode(), self.tag)
        except OSError:
            return True  # the store did not answer: try again at the next renewal, well inside the lease
        if tag is None:
            self.lost = True
            return False
        self.tag = tag
        return True

    def _close(self) -> None:
        if OutputLock._held.get(self.key) is self:
            del OutputLock._held[self.key]
            self._stop.set()
            self._renewer.join()
            self.store.delete_if(LOCK_FILE, self.tag)


def _parse(raw: bytes) -> dict:
    try:
        info = json.loads(raw)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _stale(holder: dict) -> bool:
    """Whether the lock's holder is dead: its process gone (same host), or its lease not renewed in time."""
    from jinglian.pipeline.ray_reaper import driver_is_gone

    pid, since, renewed = holder.get("pid"), holder.get("since"), holder.get("renewed")
    if not isinstance(renewed, (int, float)) or not isinstance(since, (int, float)) or not isinstance(pid, int):
        return True  # not a lock this code wrote whole: no holder to wait for
    if holder.get("host") == socket.gethostname() and driver_is_gone(pid, float(since)):
        return True
    lease = holder.get("lease_s") if isinstance(holder.get("lease_s"), (int, float)) else LEASE_S
    return time.time() - renewed > lease
