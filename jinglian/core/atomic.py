"""Atomic file commits: write to a hidden temporary beside the target, then rename.

Every file a run writes goes through here, so a reader sees a whole file or none.
Temporaries are hidden (leading dot, ``.tmp-`` in the name) so that globbing
readers (polars, pyarrow datasets) never see them. A killed writer's leftovers
are swept by the next run (:func:`sweep_temporaries` over the output directory)
and, for files outside it (a model the params name), by the next write of the
same file (:func:`atomic_path` removes the target's temporaries whose writer on
this host is gone).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import uuid
from typing import Iterator

TEMP_MARK = ".tmp-"


def temp_path_for(path: str) -> str:
    directory, name = os.path.split(path)
    os.makedirs(directory or ".", exist_ok=True)
    return os.path.join(directory, f".{name}{TEMP_MARK}{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path to write ``path`` through (by any library): renamed onto ``path`` when the block
    ends, removed when it raises. Earlier temporaries of ``path`` whose writer died are removed first."""
    sweep_stale(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_bytes_atomic(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text_atomic(path: str, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def copy_file_atomic(src: str, dst: str) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def write_json_atomic(path: str, obj, indent: int | None = None) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, sort_keys=True, indent=indent)


def sweep_temporaries(directory: str) -> int:
    """Delete temporaries left under ``directory`` by killed writers; returns how many."""
    removed = 0
    for root, _, files in os.walk(directory):
        for name in files:
            if TEMP_MARK in name:
                os.remove(os.path.join(root, name))
                removed += 1
    return removed


def sweep_stale(path: str) -> int:
    """Delete temporaries of ``path`` left by writers on this host that no longer run; returns how many.

    Temporaries of other hosts (a shared file system) or of live processes are left alone.
    """
    directory, name = os.path.split(path)
    prefix = f".{name}{TEMP_MARK}{_host()}-"
    removed = 0
    try:
        entries = os.listdir(directory or ".")
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        pid = entry[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(directory, entry))
                removed += 1
    return removed


@functools.cache
def _host() -> str:
    return socket.gethostname().replace("-", "_").replace(os.sep, "_") or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
