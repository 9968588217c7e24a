"""Hugging Face LLaMA <-> jinglian checkpoints: the same weights give the same logits in
``transformers``' LlamaForCausalLM and in our Transformer, both ways; a round trip is byte-identical.

Small random configs made here (no download): grouped-query and plain multi-head attention,
tied and untied embeddings, LLaMA-3.1 rope scaling. Norm weights are randomised too, so a
swapped norm would show.

Logits are compared in float32 with max |ours - theirs| / max |theirs| < 1e-5. Both models
compute the same function; what differs is float32 rounding: the order of the sums inside
matmuls and attention (repeated kv heads against SDPA's grouped attention), and the rotary
angles, which Hugging Face computes in float32 and we in float64. Those roundings are ~6e-8
each, and the measured difference over two layers is 6e-7 to 7e-7 (a 14x margin); another CPU's
kernels reorder the same sums with roundings of the same size. A layout error (an un-permuted
q/k, swapped norms, a wrong head grouping) is O(1): the test checks the permutation's effect.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from jinglian.pretrain import hf
from jinglian.pretrain.model import Transformer

transformers = pytest.importorskip("transformers")

SEQ = 48
LLAMA3_SCALING = {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 64}
VARIANTS = {  # name -> LlamaConfig overrides
    "gqa-untied": {"num_key_value_heads": 2, "tie_word_embeddings": False},
    "mha-tied": {"num_key_value_heads": 4, "tie_word_embeddings": True},
    "gqa-tied-llama3-rope": {"num_key_value_heads": 1, "tie_word_embeddings": True, "rope_theta": 500000.0,
                             "rope_scaling": LLAMA3_SCALING},
}


def _hf_model(path, seed: int = 0, dtype=torch.float32, **overrides):
    """A random LLaMA saved with save_pretrained (safetensors)."""
    settings = {"vocab_size": 320, "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
                "num_attention_heads": 4, "max_position_embeddings": 256, "initializer_range": 0.1,
                "rms_norm_eps": 1e-5, **overrides}
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**settings)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p))
    model = model.to(dtype)
    model.save_pretrained(path)
    return model


def _rel(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


def _tokens(vocab: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (2, SEQ), generator=torch.Generator().manual_seed(seed))


def _our_model(ckpt) -> Transformer:
    source = hf.JinglianCheckpoint(ckpt)
    model = Transformer(source.args).eval()
    missing, unexpected = model.load_state_dict(source.tensors(hf.param_names(source.args)), strict=False)
    assert not unexpected and set(missing) <= {"output.weight"}  # a tied head is the embedding
    return model


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_import_gives_the_same_logits(tmp_path, variant):
    theirs = _hf_model(tmp_path / "hf", **VARIANTS[variant])
    args = hf.import_hf(tmp_path / "hf", tmp_path / "ckpt")
    assert args.kv_heads == VARIANTS[variant]["num_key_value_heads"]
    assert args.tie_embeddings == VARIANTS[variant]["tie_word_embeddings"]
    ours = _our_model(tmp_path / "ckpt")
    x = _tokens(args.vocab_size)
    with torch.no_grad():
        want, got = theirs(x).logits, ours(x)
    assert want.abs().max() > 1.0  # logits large enough that a 1e-5 relative bound means something
    assert _rel(got, want) < 1e-5, _rel(got, want)
    # The q/k permutation is what makes rotary embeddings agree: without it the logits differ.
    with torch.no_grad():
        for i, layer in ours.layers.items():
            for name in ("wq", "wk"):
                w = getattr(layer.attention, name).weight
                w.copy_(hf.to_hf_layout(f"layers.{i}.attention.{name}.weight", w.clone(), args))
        assert _rel(ours(x), want) > 1e-2


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_export_gives_the_same_logits(tmp_path, variant):
    """Our random model, exported, loaded by transformers."""
    reference = hf.args_from_hf_config(
        transformers.LlamaConfig(vocab_size=320, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                                 num_attention_heads=4, max_position_embeddings=256, **VARIANTS[variant]).to_dict())
    args = type(reference)(**{**reference.__dict__, "init_std": 0.1})
    ours = Transformer(args, seed=3).eval()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))))
    hf.save_model(ours, args, tmp_path / "ckpt")
    hf.export_hf(tmp_path / "ckpt", tmp_path / "hf")
    theirs = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
    x = _tokens(args.vocab_size, seed=2)
    with torch.no_grad():
        want, got = theirs(x).logits, ours(x)
    assert want.abs().max() > 1.0
    assert _rel(got, want) < 1e-5, _rel(got, want)
    files = load_file(tmp_path / "hf" / "model.safetensors")
    assert ("lm_head.weight" in files) == (not args.tie_embeddings)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_round_trip_is_byte_identical(tmp_path, dtype):
    _hf_model(tmp_path / "hf", dtype=dtype, num_key_value_heads=2, tie_word_embeddings=False)
    hf.import_hf(tmp_path / "hf", tmp_path / "ckpt")
    written = hf.export_hf(tmp_path / "ckpt", tmp_path / "back")
    assert sorted(p.rsplit("/", 1)[-1] for p in written) == ["config.json", "model.safetensors"]
    before, after = load_file(tmp_path / "hf" / "model.safetensors"), load_file(tmp_path / "back" / "model.safetensors")
    assert before.keys() == after.keys() and len(before) == 2 * 9 + 3
    for name in before:
        assert before[name].dtype == after[name].dtype == dtype, name
        assert before[name].shape == after[name].shape, name
        assert before[name].view(torch.uint8).equal(after[name].view(torch.uint8)), name
    config = json.loads((tmp_path / "back" / "config.json").read_text())
    source = json.loads((tmp_path / "hf" / "config.json").read_text())
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings",
                "bos_token_id", "eos_token_id"):
        assert config[key] == source[key], key


def test_export_shards_and_import_reads_shards(tmp_path):
    """Sharded output with an index, read back by transformers and by our importer."""
    theirs = _hf_model(tmp_path / "hf", num_key_value_heads=2, tie_word_embeddings=False)
    hf.import_hf(tmp_path / "hf", tmp_path / "ckpt")
    hf.export_hf(tmp_path / "ckpt", tmp_path / "sharded", max_shard_bytes=100_000)
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 3
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "sharded", dtype=torch.float32).eval()
    x = _tokens(320)
    with torch.no_grad():
        assert torch.equal(reloaded(x).logits, theirs(x).logits)
    hf.import_hf(tmp_path / "sharded", tmp_path / "ckpt2")
    a, b = hf.JinglianCheckpoint(tmp_path / "ckpt"), hf.JinglianCheckpoint(tmp_path / "ckpt2")
    names = hf.param_names(a.args)
    assert all(torch.equal(x, y) for x, y in zip(a.tensors(names).values(), b.tensors(names).values()))


def test_config_reading_and_refusals():
    legacy = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "intermediate_size": 176, "vocab_size": 320, "rms_norm_eps": 1e-6,
              "rope_theta": 500000.0, "rope_scaling": {"type": "linear", "factor": 2.0}, "max_position_embeddings": 512}
    args = hf.args_from_hf_config(legacy)  # transformers 4.x style: rope_theta and rope_scaling at the top
    assert (args.rope_theta, args.rope_scaling, args.kv_heads) == (500000.0, {"rope_type": "linear", "factor": 2.0}, 2)
    for bad, message in (({"hidden_act": "gelu"}, "hidden_act"), ({"attention_bias": True}, "attention_bias"),
                         ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "yarn"),
                         ({"model_type": "qwen2"}, "model_type"), ({"head_dim": 32}, "head_dim")):
        with pytest.raises(hf.ConversionError, match=message):
            hf.args_from_hf_config({**legacy, **bad})


def test_cli_convert_both_ways(tmp_path):
    from jinglian.cli import main

    _hf_model(tmp_path / "hf", num_key_value_heads=2, tie_word_embeddings=True)
    assert main(["pretrain", "convert", "--from-hf", str(tmp_path / "hf"), "--output", str(tmp_path / "ckpt")]) == 0
    assert main(["pretrain", "convert", "--to-hf", str(tmp_path / "ckpt"), "--output", str(tmp_path / "out"),
                 "--dtype", "bfloat16"]) == 0
    out = load_file(tmp_path / "out" / "model.safetensors")
    assert all(t.dtype == torch.bfloat16 for t in out.values()) and "lm_head.weight" not in out
    assert json.loads((tmp_path / "out" / "config.json").read_text())["torch_dtype"] == "bfloat16"
