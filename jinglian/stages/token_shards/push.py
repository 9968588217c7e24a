"""``jinglian shards push TOKENS_DIR DEST``: publish a finished tokens directory to object storage.

The shards are verified against their manifest first (a broken directory is not published), then
uploaded, and only then the manifest and the blend files: a reader that finds a manifest finds every
shard it names. The blend files go up with prefixes relative to the tokens directory (the local ones
hold this machine's absolute paths), which is how a remote blend is read back
(:func:`jinglian.pretrain.data.load_blend`).

Pushing again sends only what changed: a shard file is skipped when the destination holds an object of
its size and the destination's manifest, written by the earlier push, records the same sha256 for it.
That trust in the earlier manifest is kept honest by a marker object (``push-in-progress.json``) that
lists the objects a push is about to replace, written before the first upload and removed after the
last step: should a push die half-way, the next one uploads those objects again whatever the old
manifest says. ``--prune`` removes, after the new manifest is up, the objects the old manifest (or an
interrupted push's marker) named that the new one does not; other keys under the destination are never
touched. Pushing over an earlier push of other tokens replaces shards before the manifest, so a reader
caught in between gets a checksum error naming the shard, never wrong tokens.
"""

from __future__ import annotations

import json
import os
import posixpath
import sys

from jinglian.core.filesystem import check_storage_options, filesystem, is_remote
from jinglian.stages.token_shards import indexed, manifest

PUSH_MARKER = "push-in-progress.json"
SHARD_FILES = ("bin", "idx")
UNREADABLE = "unreadable"  # what _remote_json gives for an object that is there but not a JSON object


def register(shards) -> None:
    p = shards.add_parser("push", help="upload a tokens directory to object storage (shards first, manifest last)")
    p.add_argument("tokens_dir", help="a finished tokens directory (with manifest.json)")
    p.add_argument("dest", help="where it goes: s3://bucket/prefix, gs://bucket/prefix (or a local directory)")
    p.add_argument("--storage-options", default="{}",
                   help='JSON of filesystem settings, e.g. {"endpoint_url": "http://..."}; no credentials '
                        "(those come from the environment or profile files)")
    p.add_argument("--prune", action="store_true",
                   help="after the new manifest is up, delete the shards the destination's previous manifest named "
                        "and the new one does not (nothing else under DEST)")
    p.add_argument("--reupload", action="store_true",
                   help="upload every shard, even those the destination already holds as its manifest records them")
    p.set_defaults(func=push_command)


def push(tokens_dir: str, dest: str, storage_options: dict | None = None, prune: bool = False,
         reupload: bool = False) -> dict:
    """Upload ``tokens_dir`` to ``dest``; counts: shards, uploaded and skipped files, bytes uploaded, pruned objects."""
    from jinglian.stages.token_shards.commands import verify_paths

    m, tokens_dir = manifest.load_manifest(tokens_dir)
    _, _, problems = verify_paths(tokens_dir)
    if problems:
        raise indexed.ShardError(f"{tokens_dir}: not pushed, {len(problems)} problem(s): " + "; ".join(problems[:3]))
    dest = dest.rstrip("/")
    fs = filesystem(dest, storage_options)
    if not is_remote(dest):
        os.makedirs(dest, exist_ok=True)
    old = _remote_json(fs, f"{dest}/{manifest.MANIFEST}")
    marker = f"{dest}/{PUSH_MARKER}"
    interrupted = _remote_json(fs, marker)  # an earlier push that died: its marker is still there
    journal = interrupted is not None
    if interrupted is UNREADABLE:  # nothing the old manifest says can be trusted then
        interrupted, reupload = {}, True
    interrupted = interrupted or {}
    unsure = set(_keys(interrupted.get("uploading")))
    present = _object_sizes(fs, dest)
    vouched = {} if reupload else _vouched(old)

    uploads, named, skipped = [], set(), 0
    for s in m["shards"]:
        for ext in SHARD_FILES:
            key = f"{s['prefix']}.{ext}"
            local = os.path.join(tokens_dir, key)
            named.add(key)
            sha256 = (s.get("checksums") or {}).get(ext)
            if sha256 and key not in unsure and vouched.get(key) == sha256 and present.get(key) == os.path.getsize(local):
                skipped += 1
            else:
                uploads.append((local, key))
    stale = sorted((set(_vouched(old)) | unsure | set(_keys(interrupted.get("pruning")))) - named) if prune else []

    journal = journal or bool(uploads or stale)
    if journal:
        # before the first upload: should this push die, the next one knows what may be half-replaced
        record = {"uploading": sorted(unsure | {key for _, key in uploads}), "pruning": stale}
        fs.pipe_file(marker, (json.dumps(record, ensure_ascii=False, indent=1) + "\n").encode())
    sent = 0
    for local, key in uploads:
        target = f"{dest}/{key}"
        if not is_remote(dest):
            fs.makedirs(os.path.dirname(target), exist_ok=True)
        fs.put_file(local, target)
        sent += os.path.getsize(local)
    fs.pipe_file(f"{dest}/{manifest.MANIFEST}", (json.dumps(m, ensure_ascii=False, indent=2) + "\n").encode())
    for split, name in manifest.BLEND_FILES.items():
        target = f"{dest}/{name}"
        if m["totals"][split]["tokens"]:
            relative, weights = manifest.relative_blend(m, split)
            fs.pipe_file(target, (manifest.data_path(relative, weights) + "\n").encode())
        elif fs.exists(target):  # left by an earlier push of tokens that had this split
            fs.rm(target)
    pruned = [key for key in stale if key in present]
    for key in pruned:
        fs.rm(f"{dest}/{key}")
    if journal:
        fs.rm(marker)
    return {"shards": len(m["shards"]), "uploaded": len(uploads), "skipped": skipped, "bytes": sent,
            "pruned": len(pruned)}


def _remote_json(fs, path: str):
    """The JSON object at ``path``: None when it is missing, :data:`UNREADABLE` when it is not a JSON object
    (a manifest that cannot be read vouches for nothing)."""
    try:
        found = json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return None
    except ValueError:
        return UNREADABLE
    return found if isinstance(found, dict) else UNREADABLE


def _vouched(old) -> dict:
    """{object key: sha256} of the shard files a destination's manifest lists with checksums."""
    if not isinstance(old, dict) or not isinstance(old.get("shards"), list):
        return {}
    found = {}
    for s in old["shards"]:
        checksums = s.get("checksums") if isinstance(s, dict) else None
        if isinstance(checksums, dict) and isinstance(s.get("prefix"), str):
            found.update((f"{s['prefix']}.{ext}", checksums.get(ext)) for ext in SHARD_FILES)
    return {key: sha for key, sha in found.items() if _inside(key)}


def _keys(listed) -> list[str]:
    return [key for key in listed if isinstance(key, str) and _inside(key)] if isinstance(listed, list) else []


def _inside(key: str) -> bool:
    """Whether an object key named by a manifest or marker stays under the destination (pruning climbs nowhere)."""
    return posixpath.normpath(key) == key and not key.startswith(("/", "../")) and key != ".."


def _object_sizes(fs, dest: str) -> dict[str, int]:
    """{key relative to ``dest``: size} of the objects under it, in one listing."""
    fs.invalidate_cache(dest)  # fsspec keeps listings; one from before another push in this process is stale
    root = fs._strip_protocol(dest).rstrip("/")
    try:
        found = fs.find(dest, detail=True)
    except FileNotFoundError:
        return {}
    return {path[len(root) + 1:]: info.get("size") for path, info in found.items() if path.startswith(root + "/")}


def push_command(args) -> int:
    try:
        options = json.loads(args.storage_options)
        if not isinstance(options, dict):
            raise ValueError("--storage-options must be a JSON object")
        check_storage_options(options, "--storage-options")
        done = push(args.tokens_dir, args.dest, options, prune=args.prune, reupload=args.reupload)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.dest}: {done['shards']} shard(s): uploaded {done['uploaded']} file(s), {done['bytes']} bytes; "
          f"{done['skipped']} already there as the manifest records them; then the manifest and blend files"
          + (f"; pruned {done['pruned']} object(s) of the previous manifest" if args.prune else ""))
    return 0
