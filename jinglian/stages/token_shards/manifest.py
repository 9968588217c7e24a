"""``tokens/manifest.json`` and the blend files built from it.

The manifest lists every shard (prefix relative to the tokens directory,
source, split, documents, tokens, dtype, sha256 of both files), the tokenizer
(hash, vocabulary size, EOD id), per-source totals and weights, and the
train/valid ratio. The blend files are Megatron-LM ``--data-path`` strings
(``w1 prefix1 w2 prefix2 ...`` with absolute prefixes): a source's weight is
spread over its shards in proportion to their tokens, so the blend serves
sources in the configured mixture whatever their number of shards.
"""

from __future__ import annotations

import json
import os

from jinglian.core.atomic import write_text_atomic

MANIFEST = "manifest.json"
SPLITS = ("train", "valid")
BLEND_FILES = {"train": "blend.txt", "valid": "blend-valid.txt"}


def build_manifest(shards: list[dict], tokenizer: dict, weights: dict, valid_ratio: float, shard_tokens: int) -> dict:
    """Assemble the manifest from shard records; ``weights`` empty means natural (token) proportions."""
    sources: dict[str, dict] = {}
    for s in shards:
        src = sources.setdefault(s["source"], {split: {"docs": 0, "tokens": 0, "shards": 0} for split in SPLITS})
        totals = src[s["split"]]
        totals["docs"] += s["docs"]
        totals["tokens"] += s["tokens"]
        totals["shards"] += 1
    unknown = sorted(set(weights) - set(sources))
    if unknown:
        raise ValueError(f"tokenize: weights name sources with no documents: {', '.join(unknown)} (sources: {', '.join(sorted(sources))})")
    all_tokens = sum(src[split]["tokens"] for src in sources.values() for split in SPLITS) or 1
    for name, src in sources.items():
        natural = (src["train"]["tokens"] + src["valid"]["tokens"]) / all_tokens
        src["weight"] = float(weights.get(name, 0.0)) if weights else natural
    return {
        "version": 1,
        "tokenizer": tokenizer,
        "valid_ratio": valid_ratio,
        "shard_tokens": shard_tokens,
        "totals": {
            split: {k: sum(src[split][k] for src in sources.values()) for k in ("docs", "tokens", "shards")} for split in SPLITS
        },
        "sources": sources,
        "shards": sorted(shards, key=lambda s: (s["source"], s["split"], s["prefix"])),
        "blend": BLEND_FILES,
    }


def blend(manifest: dict, tokens_dir: str, split: str = "train") -> tuple[list[str], list[float]]:
    """(absolute prefixes, weights summing to 1) of one split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    prefixes, weights = [], []
    for s in manifest["shards"]:
        src = manifest["sources"][s["source"]]
        total = src[s["split"]]["tokens"]
        if s["split"] != split or src["weight"] <= 0 or s["tokens"] == 0:
            continue
        prefixes.append(os.path.abspath(os.path.join(tokens_dir, s["prefix"])))
        weights.append(src["weight"] * s["tokens"] / total)
    norm = sum(weights)
    return prefixes, [w / norm for w in weights]


def relative_blend(manifest: dict, split: str = "train") -> tuple[list[str], list[float]]:
    """(prefixes relative to the tokens directory, weights): the blend of a tokens directory published elsewhere."""
    rooted, weights = blend(manifest, os.sep, split)
    return [os.path.relpath(p, os.sep) for p in rooted], weights


def data_path(prefixes: list[str], weights: list[float]) -> str:
    """Megatron-LM ``--data-path`` form."""
    return " ".join(f"{w:.12g} {p}" for w, p in zip(weights, prefixes))


def parse_data_path(text: str, base_dir: str = ".") -> tuple[list[str], list[float]]:
    """Inverse of :func:`data_path`; a bare list of prefixes gets equal weights (as in Megatron)."""
    items = text.split()
    try:
        weights = [float(w) for w in items[0::2]]
        prefixes = items[1::2]
        if len(prefixes) != len(weights):
            raise ValueError
    except ValueError:
        prefixes, weights = items, [1.0] * len(items)
    prefixes = [p if os.path.isabs(p) else os.path.join(base_dir, p) for p in prefixes]
    norm = sum(weights)
    return prefixes, [w / norm for w in weights]


def write_manifest(tokens_dir: str, manifest: dict) -> None:
    """Write the manifest and one blend file per split that has data, atomically."""
    _write_text(os.path.join(tokens_dir, MANIFEST), json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    for split, name in BLEND_FILES.items():
        prefixes, weights = blend(manifest, tokens_dir, split) if manifest["totals"][split]["tokens"] else ([], [])
        path = os.path.join(tokens_dir, name)
        if prefixes:
            _write_text(path, data_path(prefixes, weights) + "\n")
        elif os.path.exists(path):
            os.remove(path)


def load_manifest(path: str) -> tuple[dict, str]:
    """(manifest, tokens directory) from a tokens directory or a manifest path."""
    file = os.path.join(path, MANIFEST) if os.path.isdir(path) else path
    with open(file, encoding="utf-8") as f:
        return json.load(f), os.path.dirname(os.path.abspath(file))


def _write_text(path: str, text: str) -> None:
    write_text_atomic(path, text)
