"""``jinglian quality train`` and ``jinglian quality eval``."""

from __future__ import annotations

import argparse
import json

from jinglian.stages.quality.model import QualityModel, TrainConfig, train
from jinglian.stages.quality.sources import read_texts


def register(sub) -> None:
    p = sub.add_parser("quality", help="train and evaluate the fastText quality classifier")
    qsub = p.add_subparsers(dest="quality_command", required=True)

    t = qsub.add_parser("train", help="train on positive (keep) and negative (reject) texts; prints held-out P/R/F1")
    _inputs(t)
    t.add_argument("--output", required=True, help="model file to write, e.g. quality.bin")
    defaults = TrainConfig()
    t.add_argument("--valid-fraction", type=float, default=defaults.valid_fraction, help="share held out for metrics")
    t.add_argument("--epoch", type=int, default=defaults.epoch)
    t.add_argument("--lr", type=float, default=defaults.lr)
    t.add_argument("--dim", type=int, default=defaults.dim)
    t.add_argument("--word-ngrams", type=int, default=defaults.word_ngrams)
    t.add_argument("--seed", type=int, default=defaults.seed)
    t.add_argument("--balance", action="store_true",
                   help="repeat the smaller class's texts to the larger one's count")
    t.add_argument("--json", action="store_true", help="print the metrics as JSON")
    t.set_defaults(func=_train)

    e = qsub.add_parser("eval", help="score a labelled set with a trained model; prints P/R/F1")
    _inputs(e)
    e.add_argument("--model", required=True)
    e.add_argument("--threshold", type=float, default=0.5, help="score below which a document counts as rejected")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.set_defaults(func=_eval)


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--positive", nargs="+", required=True,
                   help="files of good text (JSONL, Parquet, or text: one doc a line)")
    p.add_argument("--negative", nargs="+", required=True, help="files of bad text (same formats)")
    p.add_argument("--text-field", default="text", help="field/column holding the text in JSONL/Parquet")


def _print(title: str, m, as_json: bool) -> None:
    if as_json:
        print(json.dumps(vars(m)))
    else:
        print(title)
        for line in m.lines():
            print(f"  {line}")


def _train(args) -> int:
    pos, neg = read_texts(args.positive, args.text_field), read_texts(args.negative, args.text_field)
    config = TrainConfig(epoch=args.epoch, lr=args.lr, dim=args.dim, word_ngrams=args.word_ngrams,
                         valid_fraction=args.valid_fraction, seed=args.seed, balance=args.balance)
    model, held_out = train(pos, neg, config)
    model.save(args.output)
    if held_out is None:
        print(f"trained on {len(pos)} positive and {len(neg)} negative texts (no held-out split); wrote {args.output}")
    else:
        _print(f"held-out split ({args.valid_fraction:.0%}) of {len(pos)} positive / {len(neg)} negative texts; "
               f"wrote {args.output}", held_out, args.json)
    return 0


def _eval(args) -> int:
    model = QualityModel.load(args.model)
    m = model.evaluate(read_texts(args.positive, args.text_field), read_texts(args.negative, args.text_field),
                       args.threshold)
    _print(f"{args.model} at threshold {args.threshold}", m, args.json)
    return 0
