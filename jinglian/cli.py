"""The ``jinglian`` command: one entry point, one subcommand family per package.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)``, which adds its
subcommands and sets ``func`` (called with the parsed arguments; returns the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "jinglian.pipeline.commands",  # run
    "jinglian.stages.langid.commands",  # langid fetch-model
    "jinglian.stages.quality.commands",  # quality train/eval
    "jinglian.stages.perplexity.commands",  # perplexity train/score
    "jinglian.tokenizers.commands",  # tokenizer train/extend/eval/export
    "jinglian.stages.token_shards.commands",  # shards inspect|verify
    "jinglian.pretrain.commands",  # pretrain
    "jinglian.cards.commands",  # card build, card publish
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jinglian", description="Chinese-first LLM data curation and pretraining.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
