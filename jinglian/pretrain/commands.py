"""``jinglian pretrain --config CFG.yaml``: train under torchrun, or through Ray Train with ``--ray``."""

from __future__ import annotations

import sys

from jinglian.core.config import ConfigError, load_yaml, parse_yaml


def register(sub) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain a LLaMA-style model on token shards",
        description="Run under torchrun (`torchrun --nproc-per-node N -m jinglian.cli pretrain --config C`), "
        "directly for one process, or with --ray through Ray Train (e.g. inside `ray job submit`).",
    )
    p.add_argument("--config", help="pretraining config (YAML), e.g. jobs/pretrain-tiny.yaml")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (YAML syntax), e.g. --set train.steps=20; repeatable")
    p.add_argument("--check", action="store_true", help="only validate the config")
    p.add_argument("--ray", action="store_true", help="launch dp*pp*tp workers with Ray Train's TorchTrainer")
    p.add_argument("--use-gpu", action="store_true", help="with --ray: one GPU per worker")
    p.add_argument("--cpus-per-worker", type=float, default=1, help="with --ray: CPUs reserved per worker")
    p.set_defaults(func=pretrain_command)
    actions = p.add_subparsers(dest="action", metavar="{convert}")
    c = actions.add_parser(
        "convert",
        help="convert a Hugging Face LLaMA checkpoint to or from a jinglian checkpoint",
        description="--from-hf DIR --output CKPT imports a Hugging Face LLaMA-family model (safetensors); "
        "--to-hf CKPT --output DIR exports a jinglian checkpoint (a converted one or a training step-N "
        "directory). Tensors stream one at a time.",
    )
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-hf", metavar="DIR", help="Hugging Face model directory (config.json + safetensors)")
    source.add_argument("--to-hf", metavar="CKPT", help="jinglian checkpoint directory")
    c.add_argument("--output", required=True, help="where the converted checkpoint goes")
    c.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="with --to-hf: cast weights (default: as stored)")
    c.add_argument("--tokenizer", help="with --to-hf: a SentencePiece model exported alongside (e.g. the extended one)")
    c.add_argument("--max-shard-gb", type=float, default=2.0, help="with --to-hf: safetensors shard size")
    c.set_defaults(func=convert_command)


def convert_command(args) -> int:
    import torch

    from .hf import export_hf, import_hf

    if args.from_hf:
        model = import_hf(args.from_hf, args.output)
        print(f"converted {args.from_hf} -> {args.output} ({model.n_layers} layers, dim {model.dim}, vocabulary {model.vocab_size})")
    else:
        dtype = getattr(torch, args.dtype) if args.dtype else None
        files = export_hf(args.to_hf, args.output, dtype=dtype, max_shard_bytes=int(args.max_shard_gb * 2**30),
                          tokenizer=args.tokenizer)
        print(f"exported {args.to_hf} -> {args.output} ({len(files)} files)")
    return 0


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """``raw`` with each ``SECTION.KEY=VALUE`` set (VALUE read as YAML, with the config files' number rules)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot:
            raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        if not isinstance(raw.get(section), dict):
            raw[section] = {}
        raw[section][field] = parse_yaml(value, f"--set {item!r}")
    return raw


def pretrain_command(args) -> int:
    from .config import from_dict

    if not args.config:
        raise SystemExit("jinglian pretrain: --config is required (or use `jinglian pretrain convert`)")

    try:
        raw = load_yaml(args.config) or {}
        cfg = from_dict(apply_overrides(raw, args.set) if isinstance(raw, dict) else raw, args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: ok (world size {cfg.world_size}, global batch {cfg.global_batch} x {cfg.data.seq_len} tokens)")
        return 0
    if args.ray:
        from .launch import run_ray

        result = run_ray(cfg, use_gpu=args.use_gpu, cpus_per_worker=args.cpus_per_worker)
        print(f"ray train finished: {result.metrics}")
        return 0 if result.error is None else 1
    from .launch import train_process

    train_process(cfg)
    return 0
