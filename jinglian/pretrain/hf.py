"""Hugging Face LLaMA-family checkpoints to and from jinglian's checkpoints, one tensor at a time.

A Hugging Face checkpoint is a directory with ``config.json`` and ``model.safetensors`` (or
shards listed in ``model.safetensors.index.json``). A jinglian checkpoint is a DCP directory
whose ``model`` entries carry the parameter names of ``model.Transformer`` (the trainer's own
``step-N`` directories are such checkpoints), plus ``model.json``: the ``ModelArgs`` and the
Hugging Face config the weights came from, so that an export writes back the same config.

Two layouts differ besides the names. ``model.apply_rope`` rotates consecutive pairs of a
head's dimensions (Meta's original LLaMA code); Hugging Face's ``rotate_half`` pairs dimension
``j`` with ``j + head_dim / 2``, and its conversion script permutes the rows of q_proj and
k_proj per head accordingly. Converting undoes or redoes that permutation (an exact reindexing,
so a round trip is byte-identical). Everything else maps one to one.

Memory stays at about one tensor (import: DCP writes one file per tensor, each read from
safetensors only when written) or one output shard (export), so a 7B model converts in a few GB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import warnings
from pathlib import Path

import torch

from jinglian.core.atomic import copy_file_atomic, write_text_atomic

from .model import ModelArgs

MODEL_JSON = "model.json"  # written next to a jinglian checkpoint's DCP files
_LAYER = re.compile(r"layers\.(\d+)\.(.+)")
_LAYER_NAMES = {  # ours -> Hugging Face, inside model.layers.N
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_TOP_NAMES = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
              "output.weight": "lm_head.weight"}
_HF_LAYER_NAMES = {v: k for k, v in _LAYER_NAMES.items()}
_HF_TOP_NAMES = {v: k for k, v in _TOP_NAMES.items()}


class ConversionError(ValueError):
    """The checkpoint is not one this converter can represent exactly."""


# -- names and layouts ---------------------------------------------------------------------------
def hf_name(name: str) -> str:
    if name in _TOP_NAMES:
        return _TOP_NAMES[name]
    m = _LAYER.fullmatch(name)
    if not m or m.group(2) not in _LAYER_NAMES:
        raise ConversionError(f"no Hugging Face name for parameter {name!r}")
    return f"model.layers.{m.group(1)}.{_LAYER_NAMES[m.group(2)]}"


def our_name(name: str) -> str | None:
    """Our parameter name for a Hugging Face tensor name; None for tensors that carry no weights
    (old checkpoints store the rotary ``inv_freq`` buffer)."""
    if name in _HF_TOP_NAMES:
        return _HF_TOP_NAMES[name]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", name)
    if m and m.group(2).endswith("rotary_emb.inv_freq"):
        return None
    if not m or m.group(2) not in _HF_LAYER_NAMES:
        raise ConversionError(f"unexpected tensor {name!r} (not a LLaMA-layout weight)")
    return f"layers.{m.group(1)}.{_HF_LAYER_NAMES[m.group(2)]}"


def param_names(args: ModelArgs) -> list[str]:
    """Every weight of a ``Transformer(args)``, a tied head counted once (as the embedding)."""
    names = ["tok_embeddings.weight"]
    for i in range(args.n_layers):
        names += [f"layers.{i}.{n}" for n in _LAYER_NAMES]
    names.append("norm.weight")
    if not args.tie_embeddings:
        names.append("output.weight")
    return names


def _rope_heads(name: str, args: ModelArgs) -> int | None:
    if name.endswith("attention.wq.weight"):
        return args.n_heads
    if name.endswith("attention.wk.weight"):
        return args.kv_heads
    return None


def to_hf_layout(name: str, w: torch.Tensor, args: ModelArgs) -> torch.Tensor:
    """Rows of q/k from consecutive rotary pairs to Hugging Face's half-split pairs."""
    heads = _rope_heads(name, args)
    if heads is None:
        return w
    return w.reshape(heads, args.head_dim // 2, 2, w.shape[-1]).transpose(1, 2).reshape(w.shape).contiguous()


def from_hf_layout(name: str, w: torch.Tensor, args: ModelArgs) -> torch.Tensor:
    """The inverse of ``to_hf_layout``."""
    heads = _rope_heads(name, args)
    if heads is None:
        return w
    return w.reshape(heads, 2, args.head_dim // 2, w.shape[-1]).transpose(1, 2).reshape(w.shape).contiguous()


# -- configs -------------------------------------------------------------------------------------
def _rope_settings(config: dict) -> tuple[float, dict | None]:
    """(theta, scaling) from a config of either transformers generation: 4.x writes ``rope_theta``
    and ``rope_scaling``, 5.x one ``rope_parameters`` mapping."""
    params = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    theta = float(params.pop("rope_theta", config.get("rope_theta", 10000.0)))
    kind = params.get("rope_type", params.get("type", "default"))
    if kind == "default":
        return theta, None
    if kind not in ("linear", "llama3"):
        raise ConversionError(f"rope scaling {kind!r} is not supported (default, linear, llama3)")
    return theta, {"rope_type": kind, **{k: v for k, v in params.items() if k not in ("rope_type", "type")}}


def args_from_hf_config(config: dict) -> ModelArgs:
    """``ModelArgs`` for a Hugging Face LLaMA config; anything we cannot run exactly is an error."""
    if config.get("model_type", "llama") != "llama":
        raise ConversionError(f"model_type {config.get('model_type')!r}: only LLaMA-layout models convert")
    for key, want in (("hidden_act", "silu"), ("attention_bias", False), ("mlp_bias", False)):
        if config.get(key, want) != want:
            raise ConversionError(f"{key} = {config[key]!r}: only {want!r} is supported")
    if config.get("sliding_window") not in (None, 0):
        raise ConversionError("sliding-window attention is not supported")
    heads = config["num_attention_heads"]
    dim = config["hidden_size"]
    if config.get("head_dim") not in (None, dim // heads):
        raise ConversionError(f"head_dim {config['head_dim']} != hidden_size / num_attention_heads")
    theta, scaling = _rope_settings(config)
    return ModelArgs(
        dim=dim,
        n_layers=config["num_hidden_layers"],
        n_heads=heads,
        n_kv_heads=config.get("num_key_value_heads") or heads,
        vocab_size=config["vocab_size"],
        ffn_hidden=config["intermediate_size"],
        norm_eps=float(config.get("rms_norm_eps", 1e-6)),
        rope_theta=theta,
        rope_scaling=scaling,
        max_seq_len=config.get("max_position_embeddings", 2048),
        tie_embeddings=bool(config.get("tie_word_embeddings", False)),
    )


def hf_config_from_args(args: ModelArgs, source: dict | None, dtype: torch.dtype) -> dict:
    """A ``config.json`` for ``args``: the source model's config (token ids, context length) with
    every field that describes the weights set from ``args``; transformers 4.x and 5.x read it."""
    config = {k: v for k, v in (source or {}).items() if k not in ("rope_parameters", "torch_dtype", "dtype")}
    config.update(
        architectures=["LlamaForCausalLM"],
        model_type="llama",
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        hidden_size=args.dim,
        intermediate_size=args.hidden_dim,
        num_hidden_layers=args.n_layers,
        num_attention_heads=args.n_heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.head_dim,
        vocab_size=args.vocab_size,
        rms_norm_eps=args.norm_eps,
        rope_theta=args.rope_theta,
        rope_scaling=args.rope_scaling,
        tie_word_embeddings=args.tie_embeddings,
        torch_dtype=str(dtype).removeprefix("torch."),
    )
    config.setdefault("max_position_embeddings", args.max_seq_len)
    config.setdefault("bos_token_id", 1)
    config.setdefault("eos_token_id", 2)
    return config


# -- Hugging Face directories --------------------------------------------------------------------
class HFCheckpoint:
    """A Hugging Face model directory, read lazily: ``tensor(our_name)`` opens one tensor."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        config_path = self.path / "config.json"
        if not config_path.is_file():
            raise ConversionError(f"{self.path}: no config.json (not a Hugging Face model directory)")
        self.config = json.loads(config_path.read_text(encoding="utf-8"))
        self.args = args_from_hf_config(self.config)
        self.files = self._weight_files()
        self.locations: dict[str, tuple[str, str]] = {}  # our name -> (file, Hugging Face name)
        from safetensors import safe_open

        for file in sorted(set(self.files)):
            with safe_open(self.path / file, framework="pt") as f:
                for key in f.keys():
                    ours = our_name(key)
                    if ours is not None:
                        self.locations[ours] = (file, key)
        if self.args.tie_embeddings:
            self.locations.pop("output.weight", None)  # some exports store the tied head twice
        missing = sorted(set(param_names(self.args)) - set(self.locations))
        extra = sorted(set(self.locations) - set(param_names(self.args)))
        if missing or extra:
            raise ConversionError(f"{self.path}: weights do not match config.json (missing {missing[:5]}, unexpected {extra[:5]})")

    def _weight_files(self) -> list[str]:
        index = self.path / "model.safetensors.index.json"
        if index.is_file():
            return sorted(set(json.loads(index.read_text())["weight_map"].values()))
        if (self.path / "model.safetensors").is_file():
            return ["model.safetensors"]
        if any(self.path.glob("*.bin")):
            raise ConversionError(f"{self.path}: only safetensors checkpoints are read (save with safe_serialization)")
        raise ConversionError(f"{self.path}: no model.safetensors or model.safetensors.index.json")

    def meta(self, name: str) -> torch.Tensor:
        """A meta tensor with the shape and dtype of ``name``, without reading its data."""
        from safetensors import safe_open

        file, key = self.locations[name]
        with safe_open(self.path / file, framework="pt") as f:
            sl = f.get_slice(key)
            dtype = _SAFETENSORS_DTYPES[sl.get_dtype()]
            return torch.empty(sl.get_shape(), dtype=dtype, device="meta")

    def tensor(self, name: str) -> torch.Tensor:
        """``name``'s weights in our layout."""
        from safetensors import safe_open

        file, key = self.locations[name]
        with safe_open(self.path / file, framework="pt") as f:
            return from_hf_layout(name, f.get_tensor(key), self.args)


_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


# -- jinglian checkpoints ------------------------------------------------------------------------
def write_model_json(ckpt: str | Path, args: ModelArgs, hf_config: dict | None) -> None:
    path = Path(ckpt) / MODEL_JSON
    write_text_atomic(str(path), json.dumps({"args": dataclasses.asdict(args), "hf_config": hf_config}, indent=2))


def read_model_json(ckpt: str | Path) -> tuple[ModelArgs, dict | None]:
    path = Path(ckpt) / MODEL_JSON
    if not path.is_file():
        raise ConversionError(f"{ckpt}: no {MODEL_JSON} (not a jinglian checkpoint written by convert or training)")
    info = json.loads(path.read_text())
    return ModelArgs(**info["args"]), info.get("hf_config")


@contextlib.contextmanager
def _single_process():
    """DCP warns that it assumes one process when no process group exists: here that is the intent."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


class JinglianCheckpoint:
    """A jinglian (DCP) checkpoint, read a few tensors at a time."""

    def __init__(self, path: str | Path):
        from torch.distributed.checkpoint import FileSystemReader

        self.path = Path(path)
        self.args, self.hf_config = read_model_json(self.path)
        self.metadata = FileSystemReader(str(self.path)).read_metadata().state_dict_metadata
        have = {k.removeprefix("model.") for k in self.metadata if k.startswith("model.")}
        missing = sorted(set(param_names(self.args)) - have)
        if missing:
            raise ConversionError(f"{self.path}: model weights missing: {missing[:5]}")

    def meta(self, name: str) -> torch.Tensor:
        md = self.metadata[f"model.{name}"]
        return torch.empty(md.size, dtype=md.properties.dtype, device="meta")

    def tensors(self, names: list[str]) -> dict[str, torch.Tensor]:
        import torch.distributed.checkpoint as dcp

        state = {"model": {n: torch.empty_like(self.meta(n), device="cpu") for n in names}}
        with _single_process():
            dcp.load(state, checkpoint_id=str(self.path), no_dist=True)
        return state["model"]

    def tensor(self, name: str) -> torch.Tensor:
        return self.tensors([name])[name]


def open_checkpoint(path: str | Path) -> HFCheckpoint | JinglianCheckpoint:
    """Either kind of checkpoint, told apart by its files."""
    path = Path(path)
    if (path / MODEL_JSON).is_file():
        return JinglianCheckpoint(path)
    return HFCheckpoint(path)


def _lazy_planner(source):
    """A DCP save planner whose state dict holds meta tensors: each tensor's data is read from
    ``source`` only when DCP writes it (one file per tensor), then dropped."""
    from torch.distributed.checkpoint.default_planner import DefaultSavePlanner

    class LazySavePlanner(DefaultSavePlanner):
        def lookup_object(self, index):
            obj = super().lookup_object(index)
            if isinstance(obj, torch.Tensor) and obj.is_meta:
                return source.tensor(index.fqn.removeprefix("model."))
            return obj

    return LazySavePlanner()


def import_hf(hf_dir: str | Path, output: str | Path) -> ModelArgs:
    """Convert a Hugging Face directory to a jinglian checkpoint at ``output``; returns its ModelArgs."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemWriter

    source = HFCheckpoint(hf_dir)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    state = {"model": {name: source.meta(name) for name in param_names(source.args)}}
    # single_file_per_rank=False: DCP keeps every tensor of a file alive until the file is done.
    writer = FileSystemWriter(str(output), single_file_per_rank=False, thread_count=1)
    with _single_process():
        dcp.save(state, storage_writer=writer, planner=_lazy_planner(source), no_dist=True)
    write_model_json(output, source.args, source.config)
    if (source.path / "tokenizer.model").is_file():  # the base tokenizer travels with the weights
        copy_file_atomic(str(source.path / "tokenizer.model"), str(output / "tokenizer.model"))
    return source.args


def export_hf(ckpt: str | Path, output: str | Path, dtype: torch.dtype | None = None,
              max_shard_bytes: int = 2 * 2**30, tokenizer: str | None = None) -> list[str]:
    """Write a Hugging Face directory (config.json, safetensors shards, index) from a jinglian
    checkpoint; ``dtype`` casts (default: as stored), ``tokenizer`` (a SentencePiece model) is
    exported alongside. Returns the files written."""
    from safetensors.torch import save_file

    source = JinglianCheckpoint(ckpt)
    args = source.args
    names = param_names(args)
    dtypes = {n: dtype or source.meta(n).dtype for n in names}
    sizes = {n: source.meta(n).numel() * dtypes[n].itemsize for n in names}
    shards, current, used = [], [], 0
    for n in names:
        if current and used + sizes[n] > max_shard_bytes:
            shards.append(current)
            current, used = [], 0
        current.append(n)
        used += sizes[n]
    shards.append(current)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written, weight_map = [], {}
    for i, shard in enumerate(shards):
        file = "model.safetensors" if len(shards) == 1 else f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {hf_name(n): to_hf_layout(n, t.to(dtypes[n]), args) for n, t in source.tensors(shard).items()}
        save_file(tensors, str(output / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, file))
        written.append(str(output / file))
        del tensors
    if len(shards) > 1:
        index = {"metadata": {"total_size": sum(sizes.values())}, "weight_map": weight_map}
        write_text_atomic(str(output / "model.safetensors.index.json"), json.dumps(index, indent=2))
        written.append(str(output / "model.safetensors.index.json"))
    config = hf_config_from_args(args, source.hf_config, dtype or source.meta("tok_embeddings.weight").dtype)
    write_text_atomic(str(output / "config.json"), json.dumps(config, indent=2))
    written.append(str(output / "config.json"))
    if tokenizer:
        from jinglian.tokenizers.export import export_hf as export_tokenizer

        written += export_tokenizer(tokenizer, str(output), model_max_length=config["max_position_embeddings"])
    return written


def save_model(model: torch.nn.Module, args: ModelArgs, output: str | Path, hf_config: dict | None = None) -> None:
    """Write a plain (unsharded) model's weights as a jinglian checkpoint that ``export_hf`` reads."""
    import torch.distributed.checkpoint as dcp

    state = model.state_dict()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    write_model_json(output, args, hf_config)
    with _single_process():
        dcp.save({"model": {n: state[n] for n in param_names(args)}}, checkpoint_id=str(output), no_dist=True)
