"""The ``jinglian`` command: one entry point, one subcommand family per package.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)``, which adds its
subcommands and sets ``func`` (called with the parsed arguments; returns the exit code).
Only the module of the subcommand given is imported (a command's start-up should not pay for
every other command's models and libraries); ``--help`` and unknown commands import them all.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = {
    "run": "jinglian.pipeline.commands",
    "langid": "jinglian.stages.langid.commands",  # fetch-model
    "quality": "jinglian.stages.quality.commands",  # train/eval
    "perplexity": "jinglian.stages.perplexity.commands",  # train/score
    "tokenizer": "jinglian.tokenizers.commands",  # train/extend/eval/export
    "shards": "jinglian.stages.token_shards.commands",  # inspect/verify/push
    "pretrain": "jinglian.pretrain.commands",
    "card": "jinglian.cards.commands",  # build/publish
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jinglian", description="Chinese-first LLM data curation and pretraining.")
    sub = parser.add_subparsers(dest="command", required=True)
    command = next((a for a in (argv or []) if not a.startswith("-")), None)
    names = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else COMMAND_MODULES.values()
    for name in names:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
