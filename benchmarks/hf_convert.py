"""Peak memory of ``jinglian pretrain convert`` against loading the whole state dict.

Writes a synthetic Hugging Face LLaMA checkpoint (random bf16 weights, one safetensors shard per
layer, written shard by shard) of about ``--gb`` GB, then in fresh processes measures the peak
resident memory of: the import (``--from-hf``), the export (``--to-hf``), and the baseline, which
reads every tensor into one state dict (what ``safetensors.torch.load_file`` per shard, or a
plain ``torch.load``, does, with the weights copied into memory). The claim to check: conversion
holds a few tensors (import) or one output shard (export), not the model.

    python benchmarks/hf_convert.py [--gb 2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import print_machine  # noqa: E402

MEASURE = """
import resource, sys, time
start = time.perf_counter()
{body}
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, time.perf_counter() - start)
"""
BODIES = {
    "baseline: load every tensor": """
import json, pathlib
from safetensors.torch import load_file
root = pathlib.Path(sys.argv[1])
files = sorted(set(json.loads((root / "model.safetensors.index.json").read_text())["weight_map"].values()))
state = {}
for f in files:  # load_file maps the file; clone() puts the weights in memory, as training needs them
    state.update({k: v.clone() for k, v in load_file(root / f).items()})
""",
    "import (--from-hf)": """
from jinglian.pretrain.hf import import_hf
import_hf(sys.argv[1], sys.argv[2])
""",
    "export (--to-hf, 1 GB shards)": """
from jinglian.pretrain.hf import export_hf
export_hf(sys.argv[2], sys.argv[3], max_shard_bytes=2**30)
""",
}


def write_checkpoint(root: Path, dim: int, layers: int, vocab: int, ffn: int) -> int:
    """A LLaMA-layout checkpoint written one layer at a time; returns its bytes."""
    root.mkdir(parents=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim,
              "intermediate_size": ffn, "num_hidden_layers": layers, "num_attention_heads": dim // 128,
              "num_key_value_heads": dim // 128 // 4, "vocab_size": vocab, "rms_norm_eps": 1e-5,
              "rope_theta": 500000.0, "max_position_embeddings": 4096, "tie_word_embeddings": False,
              "torch_dtype": "bfloat16"}
    (root / "config.json").write_text(json.dumps(config))
    from safetensors.torch import save_file

    kv = config["num_key_value_heads"] * 128
    weight_map, total = {}, 0

    def shard(name: str, tensors: dict) -> None:
        nonlocal total
        tensors = {k: torch.randn(shape, dtype=torch.bfloat16) * 0.02 for k, shape in tensors.items()}
        save_file(tensors, str(root / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, name))
        total += sum(t.numel() * t.element_size() for t in tensors.values())

    shard("embed.safetensors", {"model.embed_tokens.weight": (vocab, dim)})
    for i in range(layers):
        p = f"model.layers.{i}."
        shard(f"layer-{i:03d}.safetensors", {
            p + "self_attn.q_proj.weight": (dim, dim), p + "self_attn.k_proj.weight": (kv, dim),
            p + "self_attn.v_proj.weight": (kv, dim), p + "self_attn.o_proj.weight": (dim, dim),
            p + "mlp.gate_proj.weight": (ffn, dim), p + "mlp.up_proj.weight": (ffn, dim),
            p + "mlp.down_proj.weight": (dim, ffn), p + "input_layernorm.weight": (dim,),
            p + "post_attention_layernorm.weight": (dim,)})
    shard("head.safetensors", {"model.norm.weight": (dim,), "lm_head.weight": (vocab, dim)})
    (root / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, nargs="+", default=[1.0, 3.0], help="approximate checkpoint sizes")
    ap.add_argument("--keep", action="store_true", help="keep the files")
    opts = ap.parse_args()
    print_machine()
    dim, ffn, vocab = 2048, 8192, 128256  # LLaMA-3.2-1B's shapes, with as many layers as --gb allows
    for gb in opts.gb:
        measure(gb, dim, ffn, vocab, opts.keep)


def measure(gb: float, dim: int, ffn: int, vocab: int, keep: bool) -> None:
    per_layer = (2 * dim * dim + 2 * dim * dim // 4 + 3 * dim * ffn) * 2
    layers = max(1, int((gb * 1e9 - 2 * vocab * dim * 2) / per_layer))
    work = Path(tempfile.mkdtemp(prefix="hf-convert-"))
    try:
        size = write_checkpoint(work / "hf", dim, layers, vocab, ffn)
        print(f"checkpoint: {layers} layers, dim {dim}, vocabulary {vocab}, bf16, {size / 2**30:.2f} GiB; "
              f"largest tensor {vocab * dim * 2 / 2**20:.0f} MiB")
        print(f"{'':<32}{'peak RSS GiB':>14}{'x checkpoint':>14}{'wall s':>9}")
        for label, body in BODIES.items():
            out = subprocess.run([sys.executable, "-c", MEASURE.format(body=body), str(work / "hf"), str(work / "ckpt"),
                                  str(work / "export")], capture_output=True, text=True, check=True)
            peak, wall = map(float, out.stdout.split()[-2:])
            print(f"{label:<32}{peak:>14.2f}{peak * 2**30 / size:>14.2f}{wall:>9.1f}", flush=True)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
