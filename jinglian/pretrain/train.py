"""The training loop: data, AdamW with warmup + cosine, clipping, accumulation, validation,
metrics, checkpoints. It sees the model only as the ``Parallelized`` parts from ``parallel.py``.

Run it in every process of an initialised process group (``launch.py`` does that under
torchrun or Ray Train): ``Trainer(cfg).fit()``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel

from jinglian.core.atomic import atomic_path, write_text_atomic

from . import checkpoint
from .config import PretrainConfig, to_dict
from .model import Transformer, flops_per_token, model_args
from .parallel import build_mesh, clip_grads, cross_entropy, parallelize


class SyntheticTokens:
    """Learnable synthetic samples for smoke runs and benchmarks without token shards:
    arithmetic progressions mod vocab with a random start and stride per sample."""

    def __init__(self, num_samples: int, seq_len: int, vocab_size: int, seed: int = 0):
        self.num_samples, self.seq_len, self.vocab_size, self.seed = num_samples, seq_len, vocab_size, seed

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, i: int) -> np.ndarray:
        start, stride = np.random.default_rng((self.seed, i)).integers(0, self.vocab_size, 2)
        return (start + (stride % 7 + 1) * np.arange(self.seq_len + 1, dtype=np.int64)) % self.vocab_size


def _plain(loss: torch.Tensor) -> torch.Tensor:
    """The loss as a plain tensor: under loss_parallel it is a replicated DTensor."""
    return loss.full_tensor() if isinstance(loss, DTensor) else loss


def _grad_sync(model: torch.nn.Module, sync: bool):
    if isinstance(model, FSDPModule):
        model.set_requires_gradient_sync(sync)
    elif isinstance(model, DistributedDataParallel) and not sync:
        return model.no_sync()
    return contextlib.nullcontext()


def padded_vocab_size(cfg: PretrainConfig) -> int:
    """The tokenizer's vocabulary (explicit, from its SentencePiece model, or from the token
    shards' manifest), padded so that TP shards are equal and matmuls aligned."""
    m = cfg.model
    size = m.vocab_size
    if size is None and m.tokenizer is not None:
        import sentencepiece

        size = sentencepiece.SentencePieceProcessor(model_file=m.tokenizer).get_piece_size()
    if size is None:
        from .shard_cache import read_manifest

        size = int(read_manifest(cfg.data.tokens_dir, cfg.data.storage_options)["tokenizer"]["vocab_size"])
    multiple = m.pad_vocab_to * cfg.parallel.tp
    return multiple * math.ceil(size / multiple)


def lr_lambda(cfg: PretrainConfig):
    """Multiplier of the peak LR at optimizer step ``s``: linear warmup, then cosine to min_lr."""
    o, total = cfg.optim, cfg.train.steps
    floor = o.min_lr / o.lr

    def fn(s: int) -> float:
        if s < o.warmup_steps:
            return (s + 1) / o.warmup_steps
        progress = min(1.0, (s - o.warmup_steps) / max(1, total - o.warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return fn


def build_optimizer(part: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    o = cfg.optim
    decay = [p for p in part.parameters() if p.dim() >= 2]
    no_decay = [p for p in part.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # One fused kernel on plain GPU tensors; sharded (DTensor) parameters take the default foreach path.
    fused = all(p.is_cuda and not isinstance(p, DTensor) for p in decay + no_decay) or None
    return torch.optim.AdamW(groups, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, fused=fused)


def build_datasets(cfg: PretrainConfig, vocab_size: int, output_dir: Path):
    """(train, valid) datasets of (seq_len + 1)-token samples."""
    d = cfg.data
    need = cfg.train.steps * cfg.global_batch
    if d.tokens_dir is None:
        return (SyntheticTokens(max(need, d.synthetic_samples), d.seq_len, vocab_size, d.seed),
                SyntheticTokens(d.synthetic_samples, d.seq_len, vocab_size, d.seed + 1))
    from .data import PackedDataset, load_blend

    cache = d.cache_dir or str(output_dir / "sample-index")
    remote = {"storage_options": d.storage_options, "verify": d.verify_shards}  # for tokens in a bucket
    prefixes, weights = load_blend(d.tokens_dir, split="train", **remote)
    train = PackedDataset(prefixes, weights, seq_len=d.seq_len, seed=d.seed, cache_dir=cache, num_samples=need)
    valid = None
    if cfg.train.eval_every:
        prefixes, weights = load_blend(d.tokens_dir, split="valid", **remote)
        valid = PackedDataset(prefixes, weights, seq_len=d.seq_len, seed=d.seed, cache_dir=cache, num_epochs=1)
    return train, valid


def drop_grads_outside_embeddings(parts: list[torch.nn.Module]) -> None:
    """Freeze all but the input embedding and output head for this step: AdamW skips a parameter
    without a gradient entirely (no update, no weight decay) and clipping ignores it. Gradients
    are still computed, which keeps DDP's and FSDP's reductions unchanged."""
    for part in parts:
        for name, p in part.named_parameters():
            if not name.endswith(("tok_embeddings.weight", "output.weight")):
                p.grad = None


def init_optimizer_state(opt: torch.optim.Optimizer) -> None:
    """Give every parameter its zero AdamW state now instead of at its first update. Parameters
    frozen for a phase would otherwise have none, and a checkpoint saved then could not load
    into a fresh optimizer (which expects state for every parameter). The optimizer creates the
    state itself in a step with zero gradients and lr 0, which changes no weight; the step counts
    are reset to 0 so that the first real update is step 1, as with lazily created state."""
    params = [p for group in opt.param_groups for p in group["params"]]
    lrs = [group["lr"] for group in opt.param_groups]
    for p in params:
        p.grad = torch.zeros_like(p)
    for group in opt.param_groups:
        group["lr"] = 0.0
    opt.step()
    for group, lr in zip(opt.param_groups, lrs):
        group["lr"] = lr
    for p in params:
        p.grad = None
        opt.state[p]["step"].zero_()


class Trainer:
    def __init__(self, cfg: PretrainConfig, train_data=None, valid_data=None):
        self.cfg = cfg
        p = cfg.parallel
        if torch.cuda.is_available():
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.mesh = build_mesh(p, self.device.type)
        self.dp_rank, self.dp_group = self.mesh["dp"].get_local_rank(), self.mesh["dp"].get_group()
        self.pp_group = self.mesh["pp"].get_group() if p.pp > 1 else None
        self.output_dir = Path(cfg.train.output_dir)

        m = cfg.model
        warm, self.hf_config = None, None
        if m.init_from is not None:
            from .warmstart import prepare

            warm = prepare(cfg)
            self.args, self.hf_config = warm.args, warm.hf_config
        else:
            overrides = {k: getattr(m, k) for k in ("n_layers", "dim", "n_heads", "n_kv_heads", "tie_embeddings")
                         if getattr(m, k) is not None}
            self.args = model_args(m.preset, padded_vocab_size(cfg), max_seq_len=cfg.data.seq_len, **overrides)
        vocab = self.args.vocab_size
        # Every rank builds the same full model and keeps its shards, or (meta_init) builds
        # an empty one and initialises only its shards, to the same values.
        with torch.device("meta") if p.meta_init else contextlib.nullcontext():
            model = Transformer(self.args, seed=cfg.train.seed)
        if warm is not None:
            warm.load_into(model)
        self.par = parallelize(model, self.mesh, p, self.device, n_microbatches=cfg.data.grad_accum)
        self.optimizers = [build_optimizer(part, cfg) for part in self.par.parts]
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(cfg)) for o in self.optimizers]
        if cfg.train.trainable != "all" or cfg.train.embeddings_only_steps:
            for opt in self.optimizers:
                init_optimizer_state(opt)

        if train_data is None:
            train_data, valid_data = build_datasets(cfg, vocab, self.output_dir)
        self.train_data, self.valid_data = train_data, valid_data
        self.step, self.consumed_samples = 0, 0
        self.flops_per_token = flops_per_token(self.args, cfg.data.seq_len)
        # The first rank of the last pipeline stage reports; its losses are averaged over dp.
        self.is_logger = self.par.is_last_stage and self.dp_rank == 0 and self.mesh["tp"].get_local_rank() == 0
        self.autocast = torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda" and p.mixed_precision == "bf16"
        )

    # -- data ----------------------------------------------------------------------------
    def _batches(self, dataset, consumed: int):
        from .data import RankSampler

        d = self.cfg.data
        sampler = RankSampler(len(dataset), self.dp_rank, self.cfg.parallel.dp, d.micro_batch_size, consumed_samples=consumed)
        for indices in sampler:
            tokens = torch.from_numpy(np.stack([dataset[int(i)] for i in indices])).to(self.device)
            yield tokens[:, :-1], tokens[:, 1:]

    def _take(self, it, n: int):
        """n micro-batches concatenated along the batch: the pipeline splits them again."""
        pairs = [next(it) for _ in range(n)]
        return torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])

    # -- one step ------------------------------------------------------------------------
    def _dp_mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.cfg.parallel.dp > 1:
            value = value.clone()
            dist.all_reduce(value, group=self.dp_group)
            value /= self.cfg.parallel.dp
        return value

    def train_step(self, it) -> tuple[float | None, float, float]:
        """One optimizer step over grad_accum micro-batches: (dp-mean loss, None off the last stage; grad norm; lr)."""
        accum = self.cfg.data.grad_accum
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        loss = None
        with self.par.loss_context(), self.autocast:
            if self.par.schedule is not None:
                x, y = self._take(it, accum)
                losses = []
                self.par.schedule.step(x, target=y, losses=losses)
                if self.par.is_last_stage:
                    loss = torch.stack([_plain(l.detach()) for l in losses]).mean()
            else:
                model, total = self.par.parts[0], torch.zeros((), device=self.device)
                for i in range(accum):
                    x, y = next(it)
                    # Data-parallel gradients are reduced once, after the last micro-batch.
                    with _grad_sync(model, i == accum - 1):
                        micro = cross_entropy(model(x), y) / accum
                        micro.backward()
                    total += _plain(micro.detach())
                loss = total
        if self.embeddings_only():
            drop_grads_outside_embeddings(self.par.parts)
        norm = clip_grads(self.par.parts, self.cfg.optim.grad_clip, self.pp_group)
        lr = self.optimizers[0].param_groups[0]["lr"]
        for opt, sched in zip(self.optimizers, self.schedulers):
            opt.step()
            sched.step()
        self.step += 1
        self.consumed_samples += self.cfg.global_batch
        return (self._dp_mean(loss).item() if loss is not None else None), norm.item(), lr

    def embeddings_only(self) -> bool:
        """Whether this step updates only the input embedding and output head."""
        t = self.cfg.train
        return t.trainable == "embeddings" or self.step < t.embeddings_only_steps

    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean loss over eval_batches global batches of the valid split (the same ones every time)."""
        it = self._batches(self.valid_data, 0)
        accum, total, n = self.cfg.data.grad_accum, torch.zeros((), device=self.device), 0
        with self.par.loss_context(), self.autocast:
            for _ in range(self.cfg.train.eval_batches):
                try:
                    batch = self._take(it, accum)
                except StopIteration:  # a small valid split: evaluate what there is
                    break
                if self.par.schedule is not None:
                    x, y = batch
                    losses = []
                    self.par.schedule.eval(x, target=y, losses=losses)
                    if self.par.is_last_stage:
                        total += torch.stack([_plain(l) for l in losses]).sum()
                else:
                    for x, y in zip(batch[0].chunk(accum), batch[1].chunk(accum)):
                        total += _plain(cross_entropy(self.par.parts[0](x), y))
                n += accum
        if n == 0:
            raise ValueError("the valid split has fewer samples than one global batch")
        return self._dp_mean(total / n).item() if self.par.is_last_stage else None

    # -- the loop ------------------------------------------------------------------------
    def save(self) -> None:
        path = checkpoint.step_dir(self.output_dir / "checkpoints", self.step)
        if dist.get_rank() == 0:  # the shape and source config `pretrain convert --to-hf` exports with
            from .hf import write_model_json

            path.mkdir(parents=True, exist_ok=True)
            write_model_json(path, self.args, self.hf_config)
        checkpoint.save(path, self.par.parts, self.optimizers, self.schedulers,
                        {"step": self.step, "consumed_samples": self.consumed_samples})

    def maybe_resume(self) -> bool:
        path = checkpoint.latest(self.output_dir / "checkpoints") if self.cfg.train.resume else None
        if path is None:
            return False
        state = checkpoint.load(path, self.par.parts, self.optimizers, self.schedulers)
        self.step, self.consumed_samples = int(state["step"]), int(state["consumed_samples"])
        return True

    def fit(self, steps: int | None = None) -> list[dict]:
        """Train until ``steps`` (default train.steps) optimizer steps are done; returns the logger's metrics."""
        cfg, t = self.cfg, self.cfg.train
        steps = t.steps if steps is None else steps
        resumed = self.maybe_resume()
        start_step = self.step
        log = MetricsLog(self.output_dir, enabled=self.is_logger, keep_until=self.step if resumed else 0)
        if self.step == 0:
            log.write({"event": "config", **to_dict(cfg)})
        it = self._batches(self.train_data, self.consumed_samples)
        tokens_per_step = cfg.global_batch * cfg.data.seq_len
        while self.step < steps:
            start = time.perf_counter()
            loss, norm, lr = self.train_step(it)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            tps = tokens_per_step / elapsed
            row = {"step": self.step, "loss": loss, "lr": lr, "grad_norm": norm,
                   "tokens_per_s": tps, "mfu": tps * self.flops_per_token / (t.peak_flops * cfg.world_size),
                   "consumed_samples": self.consumed_samples}
            if t.eval_every and self.valid_data is not None and self.step % t.eval_every == 0:
                row["valid_loss"] = self.evaluate()
            log.write(row, echo=self.step % t.log_every == 0 or self.step == steps or "valid_loss" in row)
            if t.checkpoint_every and self.step % t.checkpoint_every == 0 and self.step < steps:
                self.save()
        if self.step > start_step:
            self.save()  # also when stopping early: a later fit() continues from here
        if self.step == t.steps:
            log.plot()
        return log.rows


def _whole_rows(text: str) -> list[dict]:
    """The log's rows; a line cut short by a killed writer (appends are not atomic) is dropped."""
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class MetricsLog:
    """metrics.jsonl in the output directory (one JSON object per step) and the loss-curve PNG."""

    def __init__(self, output_dir: Path, enabled: bool, keep_until: int):
        self.path, self.enabled, self.rows = output_dir / "metrics.jsonl", enabled, []
        if not enabled:
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        # A resumed run rewrites the log up to its checkpoint: later rows belonged to the lost tail.
        old = _whole_rows(self.path.read_text()) if keep_until and self.path.exists() else []
        kept = [r for r in old if r.get("event") == "config" or r.get("step", 0) <= keep_until]
        write_text_atomic(str(self.path), "".join(json.dumps(r) + "\n" for r in kept))
        self.rows = [r for r in kept if "step" in r]

    def write(self, row: dict, echo: bool = False) -> None:
        if not self.enabled:
            return
        if "step" in row:
            self.rows.append(row)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if echo:
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)

    def plot(self) -> Path | None:
        if not self.enabled or not self.rows:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot([r["step"] for r in self.rows], [r["loss"] for r in self.rows], label="train")
        valid = [r for r in self.rows if r.get("valid_loss") is not None]
        if valid:
            ax.plot([r["step"] for r in valid], [r["valid_loss"] for r in valid], "o-", label="valid")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (nats/token)")
        ax.legend()
        ax.grid(alpha=0.3)
        out = self.path.parent / "loss.png"
        with atomic_path(str(out)) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        return out
