"""``jinglian perplexity train`` and ``jinglian perplexity score``."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from jinglian.stages.perplexity.model import CharNgramLM, LMConfig
from jinglian.stages.quality.sources import read_texts


def register(sub) -> None:
    p = sub.add_parser("perplexity", help="train and apply the character n-gram language model")
    psub = p.add_subparsers(dest="perplexity_command", required=True)
    defaults = LMConfig()

    t = psub.add_parser("train", help="train on clean text (JSONL, Parquet, or text: one doc a line)")
    t.add_argument("inputs", nargs="+", help="files of clean text of every genre the corpus should keep")
    t.add_argument("-o", "--output", required=True, help="model file to write, e.g. lm.bin")
    t.add_argument("--text-field", default="text", help="field/column holding the text in JSONL/Parquet")
    t.add_argument("--order", type=int, default=defaults.order)
    t.add_argument("--min-char-count", type=int, default=defaults.min_char_count,
                   help="rarer characters share the unknown symbol")
    t.add_argument("--prune-below", type=int, default=defaults.prune_below,
                   help="drop n-grams of order >= 3 seen fewer times (1: keep all)")
    t.add_argument("--max-chars", type=int, default=defaults.max_chars, help="characters of each document read")
    t.set_defaults(func=_train)

    s = psub.add_parser("score", help="perplexity of every document: JSON lines on stdout, a summary on stderr")
    s.add_argument("inputs", nargs="+")
    s.add_argument("-m", "--model", required=True)
    s.add_argument("--text-field", default="text")
    s.add_argument("--lines", action="store_true", help="also give each line's perplexity")
    s.set_defaults(func=_score)


def _train(args) -> int:
    if args.order < 1:
        raise SystemExit("perplexity: --order must be >= 1")
    texts = read_texts(args.inputs, args.text_field)
    config = LMConfig(order=args.order, min_char_count=args.min_char_count, max_chars=args.max_chars,
                      prune_below=args.prune_below)
    start = time.perf_counter()
    model = CharNgramLM.train(texts, config)
    model.save(args.output)
    sizes = ", ".join(f"{k}-grams {len(t['keys']):,}" for k, t in enumerate(model.tables, start=1))
    print(f"trained on {len(texts):,} texts ({sum(len(t) for t in texts):,} characters) in "
          f"{time.perf_counter() - start:.1f} s: {model.vocab_size:,} symbols, {sizes}; wrote {args.output}")
    return 0


def _score(args) -> int:
    model = CharNgramLM.load(args.model)
    texts = read_texts(args.inputs, args.text_field)
    ppl = model.perplexity(texts)
    out = sys.stdout
    for i, (text, value) in enumerate(zip(texts, ppl)):
        row = {"index": i, "perplexity": round(float(value), 3), "chars": len(text)}
        if args.lines:
            row["lines"] = [[line, round(p, 3)] for line, p in model.line_perplexity(text)]
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if len(ppl):
        q = np.percentile(ppl, [5, 50, 95])
        print(f"{len(ppl):,} documents: perplexity 5% {q[0]:.1f}, median {q[1]:.1f}, 95% {q[2]:.1f}", file=sys.stderr)
    return 0
