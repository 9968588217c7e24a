"""Atomic file commits: write to a hidden temporary beside the target, then rename.

Temporaries are hidden (leading dot, ``.tmp-`` in the name) so that globbing
readers (polars, pyarrow datasets) never see them; a killed writer's leftovers
are swept by the next run (:func:`sweep_temporaries`).
"""

from __future__ import annotations

import json
import os
import uuid

TEMP_MARK = ".tmp-"


def temp_path_for(path: str) -> str:
    directory, name = os.path.split(path)
    os.makedirs(directory or ".", exist_ok=True)
    return os.path.join(directory, f".{name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_json_atomic(path: str, obj, indent: int | None = None) -> None:
    tmp = temp_path_for(path)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, sort_keys=True, indent=indent)
    os.replace(tmp, path)


def sweep_temporaries(directory: str) -> int:
    """Delete temporaries left under ``directory`` by killed writers; returns how many."""
    removed = 0
    for root, _, files in os.walk(directory):
        for name in files:
            if TEMP_MARK in name:
                os.remove(os.path.join(root, name))
                removed += 1
    return removed
