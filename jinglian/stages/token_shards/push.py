"""``jinglian shards push TOKENS_DIR DEST``: publish a finished tokens directory to object storage.

The shards are verified against their manifest first (a broken directory is not published), then
uploaded, and only then the manifest and the blend files: a reader that finds a manifest finds every
shard it names. The blend files go up with prefixes relative to the tokens directory (the local ones
hold this machine's absolute paths), which is how a remote blend is read back
(:func:`jinglian.pretrain.data.load_blend`). Pushing over an earlier push of other tokens replaces
shards before the manifest, so a reader caught in between gets a checksum error naming the shard,
never wrong tokens.
"""

from __future__ import annotations

import json
import os
import sys

from jinglian.core.filesystem import check_storage_options, filesystem, is_remote
from jinglian.stages.token_shards import indexed, manifest


def register(shards) -> None:
    p = shards.add_parser("push", help="upload a tokens directory to object storage (shards first, manifest last)")
    p.add_argument("tokens_dir", help="a finished tokens directory (with manifest.json)")
    p.add_argument("dest", help="where it goes: s3://bucket/prefix, gs://bucket/prefix (or a local directory)")
    p.add_argument("--storage-options", default="{}",
                   help='JSON of filesystem settings, e.g. {"endpoint_url": "http://..."}; no credentials '
                        "(those come from the environment or profile files)")
    p.set_defaults(func=push_command)


def push(tokens_dir: str, dest: str, storage_options: dict | None = None) -> dict:
    """Upload ``tokens_dir`` to ``dest``; {"shards": n, "bytes": total uploaded}."""
    from jinglian.stages.token_shards.commands import verify_paths

    m, tokens_dir = manifest.load_manifest(tokens_dir)
    _, _, problems = verify_paths(tokens_dir)
    if problems:
        raise indexed.ShardError(f"{tokens_dir}: not pushed, {len(problems)} problem(s): " + "; ".join(problems[:3]))
    dest = dest.rstrip("/")
    fs = filesystem(dest, storage_options)
    if not is_remote(dest):
        os.makedirs(dest, exist_ok=True)
    sent = 0
    for s in m["shards"]:
        for ext in ("bin", "idx"):
            local = os.path.join(tokens_dir, f"{s['prefix']}.{ext}")
            target = f"{dest}/{s['prefix']}.{ext}"
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
    return {"shards": len(m["shards"]), "bytes": sent}


def push_command(args) -> int:
    try:
        options = json.loads(args.storage_options)
        if not isinstance(options, dict):
            raise ValueError("--storage-options must be a JSON object")
        check_storage_options(options, "--storage-options")
        done = push(args.tokens_dir, args.dest, options)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.dest}: pushed {done['shards']} shard(s), {done['bytes']} bytes, then the manifest and blend files")
    return 0
