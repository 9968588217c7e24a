"""Token shards on object storage, read through a local cache (``numpy.memmap`` needs local files).

A blend given as ``s3://``, ``gs://`` or ``http(s)://`` (a tokens directory, its ``manifest.json`` or
a blend ``.txt`` beside it) names shards relative to that directory. Each ``.bin``/``.idx`` is fetched
into the cache directory under the same relative name, its sha256 checked against the manifest while
it streams in, and committed atomically, so a cached file is always a whole, verified one. A file
already in the cache is hashed and reused when it matches; one that does not match is fetched again.
A fetch whose bytes do not match is tried once more (a torn upload, a flaky proxy), then refused with
the shard's name: the bucket holds something other than what its manifest describes.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re

from jinglian.core.atomic import atomic_path
from jinglian.core.filesystem import is_remote, open_input
from jinglian.stages.token_shards import indexed, manifest

COPY_BYTES = 8 << 20
FETCH_TRIES = 2


class ShardFetchError(indexed.ShardError):
    """A remote shard that cannot be brought into the cache whole and matching its manifest."""


def default_cache_dir() -> str:
    base = os.environ.get("JINGLIAN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jinglian")
    return os.path.join(base, "shards")


def read_remote_text(url: str, storage_options: dict | None = None) -> str:
    with open_input(url, storage_options) as f:
        return f.read().decode("utf-8")


def read_manifest(path: str, storage_options: dict | None = None) -> dict:
    """The manifest of a tokens directory, its ``manifest.json`` or a blend beside it, local or remote."""
    if not is_remote(path):
        return manifest.load_manifest(os.path.dirname(os.path.abspath(path)) if path.endswith(".txt") else path)[0]
    return json.loads(read_remote_text(f"{_tokens_dir(path.rstrip('/'))}/{manifest.MANIFEST}", storage_options))


def _tokens_dir(url: str) -> str:
    return url.rsplit("/", 1)[0] if url.endswith((".txt", ".json")) else url


def remote_blend(path: str, split: str = "train", cache_dir: str | None = None,
                 storage_options: dict | None = None) -> tuple[list[str], list[float]]:
    """(local prefixes, weights) of a remote blend, every shard it names fetched and verified in the cache."""
    path = path.rstrip("/")
    base = _tokens_dir(path)
    m = read_manifest(path, storage_options)
    if path.endswith(".txt"):
        urls, weights = manifest.parse_data_path(read_remote_text(path, storage_options), base)
        relative = [u[len(base) + 1:] if u.startswith(base + "/") else u for u in urls]
    else:
        relative, weights = manifest.relative_blend(m, split)
        if not relative:
            raise ValueError(f"{path}: no {split} tokens in the manifest")
    checksums = {s["prefix"]: s.get("checksums") for s in m["shards"]}
    local_root = os.path.join(cache_dir or default_cache_dir(), _cache_name(base))
    prefixes = []
    for rel in relative:
        if rel not in checksums:
            raise ShardFetchError(f"{path}: names shard {rel}, which {base}/{manifest.MANIFEST} does not list")
        if not checksums[rel]:
            raise ShardFetchError(f"{base}/{rel}: the manifest has no sha256 for it, so a fetched copy cannot be verified")
        local = os.path.join(local_root, _safe_relative(rel, base))
        for ext in ("idx", "bin"):
            fetch(f"{base}/{rel}.{ext}", f"{local}.{ext}", checksums[rel][ext], storage_options)
        prefixes.append(local)
    return prefixes, weights


def fetch(url: str, local: str, sha256: str, storage_options: dict | None = None) -> bool:
    """Bring ``url`` into ``local`` unless a copy matching ``sha256`` is there; whether it was fetched."""
    if os.path.exists(local) and indexed.file_sha256(local) == sha256:
        return False
    got = ""
    for _ in range(FETCH_TRIES):
        try:
            with atomic_path(local) as tmp:  # removes the temporary when the block raises
                got = _copy_hashing(url, tmp, storage_options)
                if got != sha256:
                    raise _Mismatch
            return True
        except _Mismatch:
            continue
    raise ShardFetchError(f"{url}: fetched {FETCH_TRIES} times and the bytes never matched the manifest's sha256 "
                          f"({sha256[:16]}..., last copy {got[:16]}...); the object is not the shard its manifest describes (push the "
                          "tokens directory again)")


class _Mismatch(Exception):
    pass


def _copy_hashing(url: str, dst: str, storage_options: dict | None) -> str:
    digest = hashlib.sha256()
    with open_input(url, storage_options) as src, open(dst, "wb") as out:
        while chunk := src.read(COPY_BYTES):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _cache_name(base: str) -> str:
    """A directory name per remote tokens directory: readable, and unique by a hash of the full URL."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", base.split("://", 1)[-1]).strip("_")[-60:]
    return f"{readable}-{hashlib.sha256(base.encode()).hexdigest()[:12]}"


def _safe_relative(rel: str, base: str) -> str:
    """The manifest's relative prefix as a path inside the cache; one that would climb out is refused."""
    norm = posixpath.normpath(rel)
    if norm.startswith(("/", "../")) or norm == ".." or "\\" in rel:
        raise ShardFetchError(f"{base}/{manifest.MANIFEST}: shard prefix {rel!r} leaves the tokens directory")
    return norm
