"""``jinglian shards inspect PATH`` and ``jinglian shards verify PATH`` (``shards push``: push.py).

PATH is a tokens directory (with ``manifest.json``), a manifest file, or one
shard (prefix, ``.bin`` or ``.idx``).
"""

from __future__ import annotations

import os
import sys

from jinglian.stages.token_shards import indexed, manifest


def register(sub) -> None:
    p = sub.add_parser("shards", help="inspect or verify token shards (Megatron .bin/.idx)")
    shards = p.add_subparsers(dest="shards_command", required=True)
    i = shards.add_parser("inspect", help="counts, dtype and a few decoded documents")
    i.add_argument("path", help="tokens directory, manifest.json, or a shard prefix/.bin/.idx")
    i.add_argument("--tokenizer", help="SentencePiece model to decode with (default: the manifest's)")
    i.add_argument("--samples", type=int, default=3, help="documents to decode")
    i.add_argument("--chars", type=int, default=200, help="characters shown per decoded document")
    i.set_defaults(func=inspect_command)
    v = shards.add_parser("verify", help="check headers, sizes, pointers, lengths and checksums; non-zero exit on a problem")
    v.add_argument("path", help="tokens directory, manifest.json, or a shard prefix/.bin/.idx")
    v.set_defaults(func=verify_command)
    from jinglian.stages.token_shards import push  # here, not at the top: push imports verify_paths from this module

    push.register(shards)


def _is_manifest(path: str) -> bool:
    return os.path.isdir(path) or path.endswith(".json")


def verify_paths(path: str) -> tuple[int, int, list[str]]:
    """(shards checked, tokens, problems) for a tokens directory, manifest or single shard."""
    if not _is_manifest(path):
        try:
            shard = indexed.verify(path)
        except indexed.ShardError as exc:
            return 1, 0, [str(exc)]
        return 1, shard.num_tokens, []
    try:
        m, tokens_dir = manifest.load_manifest(path)
    except (OSError, ValueError) as exc:
        return 0, 0, [f"{path}: cannot read manifest: {exc}"]
    problems, tokens = [], 0
    for s in m["shards"]:
        prefix = os.path.join(tokens_dir, s["prefix"])
        try:
            shard = indexed.verify(prefix, s.get("checksums"))
        except indexed.ShardError as exc:
            problems.append(str(exc))
            continue
        if (len(shard), shard.num_tokens, shard.dtype.name) != (s["docs"], s["tokens"], s["dtype"]):
            problems.append(
                f"{prefix}: holds {len(shard)} docs / {shard.num_tokens} tokens / {shard.dtype.name}, "
                f"manifest says {s['docs']} / {s['tokens']} / {s['dtype']}"
            )
        tokens += shard.num_tokens
    return len(m["shards"]), tokens, problems


def verify_command(args) -> int:
    checked, tokens, problems = verify_paths(args.path)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if problems:
        print(f"{args.path}: {len(problems)} problem(s) in {checked} shard(s)", file=sys.stderr)
        return 1
    print(f"{args.path}: ok ({checked} shard(s), {tokens} tokens)")
    return 0


def inspect_command(args) -> int:
    tokenizer = args.tokenizer
    try:
        if _is_manifest(args.path):
            m, tokens_dir = manifest.load_manifest(args.path)
            _print_manifest(m)
            shards = [indexed.Shard(os.path.join(tokens_dir, s["prefix"])) for s in m["shards"]]
            tokenizer = tokenizer or m["tokenizer"]["path"]
        else:
            shards = [indexed.Shard(args.path)]
            print(f"{shards[0].prefix}: {len(shards[0])} documents, {shards[0].num_tokens} tokens, dtype {shards[0].dtype.name}")
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print_samples(shards, tokenizer, args.samples, args.chars)
    return 0


def _print_manifest(m: dict) -> None:
    tok = m["tokenizer"]
    print(f"tokenizer: {tok['path']} (sha256 {tok['sha256'][:12]}, vocab {tok['vocab_size']}, eod {tok['eod_id']}, dtype {tok['dtype']})")
    for split, t in m["totals"].items():
        print(f"{split}: {t['docs']} documents, {t['tokens']} tokens, {t['shards']} shards")
    for name, src in sorted(m["sources"].items()):
        print(f"  {name}: weight {src['weight']:g}, train {src['train']['tokens']} tokens, valid {src['valid']['tokens']} tokens")


def _print_samples(shards: list, tokenizer: str | None, count: int, chars: int) -> None:
    sp = None
    if tokenizer and os.path.exists(tokenizer):
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=tokenizer)
    shown = 0
    for shard in shards:
        for i in range(len(shard)):
            if shown >= count:
                return
            ids = shard[i].tolist()
            body = sp.decode(ids)[:chars] if sp else " ".join(map(str, ids[:40]))
            print(f"--- {os.path.basename(shard.prefix)}[{i}] ({len(ids)} tokens)\n{body}")
            shown += 1
