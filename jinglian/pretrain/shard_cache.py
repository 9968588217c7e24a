"""Token shards on object storage, read through a local cache (``numpy.memmap`` needs local files).

A blend given as ``s3://``, ``gs://`` or ``http(s)://`` (a tokens directory, its ``manifest.json`` or
a blend ``.txt`` beside it) names shards relative to that directory. Each ``.bin``/``.idx`` is fetched
into the cache directory under the same relative name, its sha256 checked against the manifest while
it streams in, and committed atomically, so a cached file is always a whole, verified one. A fetch
whose bytes do not match is tried once more (a torn upload, a flaky proxy), then refused with the
shard's name: the bucket holds something other than what its manifest describes.

A verified copy gets a small record beside it (``NAME.verified``: sha256, size, mtime_ns, inode), so
the next load trusts a copy whose size, mtime and inode are as recorded instead of hashing a terabyte
again at every start; any other copy is hashed, and fetched again when it does not match.
``verify=True`` hashes every copy whatever its record says. Ranks on one node share the cache: a
per-file lock (``.NAME.lock``, ``fcntl.flock``) lets one process fetch a file while the others fetch
other files, then wait for it, so each file crosses the network once per node.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import posixpath
import re
import time
from typing import Iterator

from jinglian.core.atomic import atomic_path, write_json_atomic
from jinglian.core.filesystem import is_remote, open_input
from jinglian.stages.token_shards import indexed, manifest

COPY_BYTES = 8 << 20
FETCH_TRIES = 2
VERIFIED = ".verified"  # suffix of the record of a verified copy
# How far a verified copy's mtime is set back: more than any filesystem's timestamp granularity
BACKDATE_NS = 10 * 10**9


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
                 storage_options: dict | None = None, verify: bool = False) -> tuple[list[str], list[float]]:
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
    prefixes, files = [], []
    for rel in relative:
        if rel not in checksums:
            raise ShardFetchError(f"{path}: names shard {rel}, which {base}/{manifest.MANIFEST} does not list")
        if not checksums[rel]:
            raise ShardFetchError(f"{base}/{rel}: the manifest has no sha256 for it, so a fetched copy cannot be verified")
        local = os.path.join(local_root, _safe_relative(rel, base))
        files += [(f"{base}/{rel}.{ext}", f"{local}.{ext}", checksums[rel][ext]) for ext in ("idx", "bin")]
        prefixes.append(local)
    fetch_all(files, storage_options, verify)
    return prefixes, weights


def fetch_all(files: list[tuple[str, str, str]], storage_options: dict | None = None, verify: bool = False) -> int:
    """Bring each (url, local, sha256) into the cache; how many were fetched.

    A file whose lock another process holds (a rank on this node fetching it) is left for a second
    pass, which waits for the lock and then finds the copy verified: ranks that start together
    fetch different files side by side instead of queueing behind one.
    """
    fetched, busy = 0, []
    for url, local, sha256 in files:
        if not verify and _recorded(local, sha256):
            continue
        with _locked(local, wait=False) as held:
            if held:
                fetched += _fetch_locked(url, local, sha256, storage_options, verify)
            else:
                busy.append((url, local, sha256))
    for url, local, sha256 in busy:
        fetched += fetch(url, local, sha256, storage_options, verify)
    return fetched


def fetch(url: str, local: str, sha256: str, storage_options: dict | None = None, verify: bool = False) -> bool:
    """Bring ``url`` into ``local`` unless a copy matching ``sha256`` is there; whether it was fetched.

    A copy whose record matches its size, mtime and inode is trusted unhashed unless ``verify``."""
    if not verify and _recorded(local, sha256):
        return False
    with _locked(local, wait=True):
        return _fetch_locked(url, local, sha256, storage_options, verify)


def _fetch_locked(url: str, local: str, sha256: str, storage_options: dict | None, verify: bool) -> bool:
    if not verify and _recorded(local, sha256):  # fetched by another rank while this one waited
        return False
    if os.path.exists(local) and indexed.file_sha256(local) == sha256:
        _record(local, sha256)
        return False
    got = ""
    for _ in range(FETCH_TRIES):
        try:
            with atomic_path(local) as tmp:  # removes the temporary when the block raises
                got = _copy_hashing(url, tmp, storage_options)
                if got != sha256:
                    raise _Mismatch
            _record(local, sha256)
            return True
        except _Mismatch:
            continue
    raise ShardFetchError(f"{url}: fetched {FETCH_TRIES} times and the bytes never matched the manifest's sha256 "
                          f"({sha256[:16]}..., last copy {got[:16]}...); the object is not the shard its manifest describes (push the "
                          "tokens directory again)")


class _Mismatch(Exception):
    pass


def _record_path(local: str) -> str:
    return local + VERIFIED


def _stat_record(st: os.stat_result, sha256: str) -> dict:
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _recorded(local: str, sha256: str) -> bool:
    """Whether ``local`` was verified as ``sha256`` and has not changed since (same size, mtime, inode)."""
    try:
        with open(_record_path(local), encoding="utf-8") as f:
            record = json.load(f)
        return record == _stat_record(os.stat(local), sha256)
    except (OSError, ValueError):
        return False


def _record(local: str, sha256: str) -> None:
    """Record ``local`` as verified. Its mtime is first set into the past: a write within the filesystem's
    timestamp granularity of now (a tick of some milliseconds) would otherwise keep the recorded mtime and
    go unseen; any later write now moves the mtime forward. A cache this process cannot write only loses
    the record (the next load hashes again)."""
    past = time.time_ns() - BACKDATE_NS
    try:
        os.utime(local, ns=(past, past))
        write_json_atomic(_record_path(local), _stat_record(os.stat(local), sha256))
    except OSError:
        pass


@contextlib.contextmanager
def _locked(local: str, wait: bool) -> Iterator[bool]:
    """An exclusive lock on ``local``'s lock file beside it; yields whether it is held (``wait=False``
    yields False at once when another process holds it). The lock goes with the file descriptor, so a
    killed holder never leaves it taken. A cache directory without write access, or on a filesystem
    without locks, is used unlocked (each process then fetches for itself, still atomically)."""
    lock_path = os.path.join(os.path.dirname(local), f".{os.path.basename(local)}.lock")
    try:
        os.makedirs(os.path.dirname(local), exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        fd = None
    if fd is None:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            held = False
        except OSError:  # a filesystem without locks (some NFS mounts): correct unlocked, only not shared
            held = True
        yield held
    finally:
        os.close(fd)


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
