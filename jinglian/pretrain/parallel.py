"""Parallelism applied from outside the model, with PyTorch's own distributed stack.

The device mesh is ``dp x pp x tp`` (tp innermost, so a TP group sits on one node's fast links).
``parallelize`` turns one full ``Transformer`` into the parts this rank runs:

1. pipeline split (``torch.distributed.pipelining``): the layers are cut into
   ``pp * stages_per_rank`` contiguous stages by deleting the other layers from a copy
   of the model; rank r holds stages r, r + pp, ... (the loop order interleaved 1F1B expects);
2. tensor parallel (``torch.distributed.tensor.parallel``): q/k/v/w1/w3 column-wise, o/w2
   row-wise, vocabulary-sharded embedding and output head, optionally the norms and the
   residual stream sharded along the sequence (sequence parallel);
3. activation checkpointing and ``torch.compile`` per block;
4. data parallel: FSDP2 ``fully_shard`` per block and per part, or DDP.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleInterleaved1F1B
from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    RowwiseParallel,
    SequenceParallel,
    loss_parallel,
    parallelize_module,
)
from torch.nn.parallel import DistributedDataParallel

from .config import ParallelConfig
from .model import ModelArgs, Transformer, at_least_fp32, initial_value


def build_mesh(cfg: ParallelConfig, device_type: str) -> DeviceMesh:
    world = dist.get_world_size()
    if cfg.dp * cfg.pp * cfg.tp != world:
        raise ValueError(f"dp * pp * tp = {cfg.dp * cfg.pp * cfg.tp} but the world has {world} processes")
    return init_device_mesh(device_type, (cfg.dp, cfg.pp, cfg.tp), mesh_dim_names=("dp", "pp", "tp"))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss; with loss_parallel active it runs on vocabulary-sharded logits."""
    return F.cross_entropy(logits.flatten(0, 1).to(at_least_fp32(logits.dtype)), targets.flatten(0, 1))


@dataclass
class Parallelized:
    parts: list[nn.Module]  # model chunks this rank runs (several under interleaved 1F1B)
    schedule: object | None  # the pipeline schedule, None without pipeline parallelism
    is_last_stage: bool  # this rank computes the loss
    loss_parallel: bool  # run forward+backward inside loss_parallel()

    def loss_context(self):
        return loss_parallel() if self.loss_parallel else contextlib.nullcontext()


def parallelize(
    model: Transformer,
    mesh: DeviceMesh,
    cfg: ParallelConfig,
    device: torch.device,
    n_microbatches: int = 1,
    loss_fn: Callable = cross_entropy,
) -> Parallelized:
    """This rank's share of ``model`` (the same full model on every rank) under ``cfg``;
    ``n_microbatches`` and ``loss_fn`` configure the pipeline schedule."""
    use_loss_parallel = cfg.loss_parallel and cfg.tp > 1
    if cfg.pp == 1:
        parts, stage_ids, n_stages = [model], [0], 1
    else:
        n_stages = cfg.pp * cfg.stages_per_rank
        pp_rank = mesh["pp"].get_local_rank()
        stage_ids = [pp_rank + k * cfg.pp for k in range(cfg.stages_per_rank)]
        parts = [pipeline_stage_module(model, s, n_stages) for s in stage_ids]
    on_meta = next(model.parameters()).is_meta
    parts = [_parallelize_part(p if on_meta else p.to(device), mesh, cfg, use_loss_parallel) for p in parts]
    if on_meta:
        for part in parts:
            materialize(part, model.args, model.seed, device)
    schedule = None
    if cfg.pp > 1:
        group = mesh["pp"].get_group()
        stages = [PipelineStage(p, s, n_stages, device, group=group) for p, s in zip(parts, stage_ids)]
        if cfg.pp_schedule == "1f1b":
            schedule = Schedule1F1B(stages[0], n_microbatches, loss_fn=loss_fn)
        else:
            schedule = ScheduleInterleaved1F1B(stages, n_microbatches, loss_fn=loss_fn)
    return Parallelized(parts, schedule, n_stages - 1 in stage_ids, use_loss_parallel)


@torch.no_grad()
def materialize(part: nn.Module, args: ModelArgs, seed: int, device: torch.device) -> None:
    """Give a meta-device part real storage and its initial values, one parameter at a time: each is
    drawn whole (as the full model would) and this rank keeps its shard, so any layout starts from
    the same weights as a single-device run (on the same device type) without holding the model."""
    part.to_empty(device=device)
    part.init_buffers()
    for name, p in part.named_parameters():
        name = name.replace("_checkpoint_wrapped_module.", "")
        full = initial_value(args, name, p.shape, seed, device)
        if isinstance(p, DTensor):
            p.to_local().copy_(distribute_tensor(full, p.device_mesh, p.placements, src_data_rank=None).to_local())
        else:
            p.copy_(full)


def stage_layers(n_layers: int, n_stages: int) -> list[list[int]]:
    """Contiguous layer ids per stage; earlier stages take one extra layer when it does not divide."""
    if n_layers < n_stages:
        raise ValueError(f"{n_layers} layers cannot fill {n_stages} pipeline stages")
    base, extra = divmod(n_layers, n_stages)
    out, start = [], 0
    for s in range(n_stages):
        size = base + (s < extra)
        out.append(list(range(start, start + size)))
        start += size
    return out


def pipeline_stage_module(model: Transformer, stage: int, n_stages: int) -> Transformer:
    """A copy of ``model`` keeping only stage ``stage``'s layers (parameter names unchanged)."""
    if model.args.tie_embeddings:
        raise ValueError("tied embeddings live on the first and last pipeline stage: use tie_embeddings: false with pp > 1")
    keep = {str(i) for i in stage_layers(model.args.n_layers, n_stages)[stage]}
    part = copy.deepcopy(model)
    for name in list(part.layers):
        if name not in keep:
            del part.layers[name]
    if stage != 0:
        part.tok_embeddings = None
    if stage != n_stages - 1:
        part.norm = None
        part.output = None
    return part


def _parallelize_part(part: Transformer, mesh: DeviceMesh, cfg: ParallelConfig, use_loss_parallel: bool) -> nn.Module:
    if cfg.tp > 1:
        apply_tensor_parallel(part, mesh["tp"], cfg.sequence_parallel, use_loss_parallel)
    for name, block in list(part.layers.items()):
        if cfg.activation_checkpoint:
            block = checkpoint_wrapper(block, preserve_rng_state=False)
        if cfg.compile:
            block.compile()  # in place: parameter names keep no _orig_mod prefix
        part.layers[name] = block
    if cfg.dp > 1 and cfg.dp_mode == "fsdp":
        dp_mesh = mesh["dp"]
        # Under pipelining each stage runs several micro-batches per step: keep parameters
        # gathered between forward and backward instead of re-gathering per micro-batch.
        reshard = cfg.pp == 1
        for block in part.layers.values():
            fully_shard(block, mesh=dp_mesh, reshard_after_forward=reshard)
        fully_shard(part, mesh=dp_mesh, reshard_after_forward=reshard)
    elif cfg.dp > 1:
        part = DistributedDataParallel(part, process_group=mesh["dp"].get_group())
    return part


def apply_tensor_parallel(part: Transformer, tp_mesh: DeviceMesh, sequence_parallel: bool, use_loss_parallel: bool) -> None:
    # Between blocks the residual stream is replicated, or sharded along the sequence (dim 1).
    residual = Shard(1) if sequence_parallel else Replicate()
    top = {}
    if part.tok_embeddings is not None:
        top["tok_embeddings"] = RowwiseParallel(input_layouts=Replicate(), output_layouts=residual)
    if part.norm is not None and sequence_parallel:
        top["norm"] = SequenceParallel()
    if part.output is not None:
        top["output"] = ColwiseParallel(
            input_layouts=residual,
            output_layouts=Shard(-1) if use_loss_parallel else Replicate(),
            use_local_output=not use_loss_parallel,
        )
    if top:
        parallelize_module(part, tp_mesh, top)
    if part.args.tie_embeddings and part.tok_embeddings is not None and part.output is not None:
        # Sharding replaced the embedding's parameter, leaving the head a copy: share it again
        # (both are sharded along the vocabulary, so the placements agree).
        part.output.weight = part.tok_embeddings.weight
    for block in part.layers.values():
        plan = {
            "attention.wq": ColwiseParallel(),
            "attention.wk": ColwiseParallel(),
            "attention.wv": ColwiseParallel(),
            "attention.wo": RowwiseParallel(output_layouts=residual),
            "feed_forward.w1": ColwiseParallel(),
            "feed_forward.w3": ColwiseParallel(),
            "feed_forward.w2": RowwiseParallel(output_layouts=residual),
        }
        if sequence_parallel:
            plan.update({
                "attention_norm": SequenceParallel(),
                "ffn_norm": SequenceParallel(),
                # all-gather the sequence before the column-parallel projections
                "attention": PrepareModuleInput(input_layouts=(Shard(1), None), desired_input_layouts=(Replicate(), None)),
                "feed_forward": PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
            })
        parallelize_module(block, tp_mesh, plan)


def _params_with_grads(parts: list[nn.Module]) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split by DTensor (TP/FSDP shards) or plain gradients: foreach ops take one kind at a time."""
    sharded, local = [], []
    for part in parts:
        for p in part.parameters():
            if p.grad is not None:
                (sharded if isinstance(p.grad, DTensor) else local).append(p)
    return sharded, local


def clip_grads(parts: list[nn.Module], max_norm: float, pp_group: dist.ProcessGroup | None) -> torch.Tensor:
    """Clip to a global L2 norm (0: only measure it) and return the norm before clipping.

    DTensor norms reduce over their shards; pipeline stages hold different parameters, so
    their squared norms are summed over the pipeline group."""
    sharded, local = _params_with_grads(parts)
    # A pipeline stage whose parameters are all frozen this step has no gradients at all.
    first = (sharded + local)[0].grad if sharded + local else next(p for part in parts for p in part.parameters())
    dtype = at_least_fp32(first.dtype)
    squares = torch.zeros((), dtype=dtype, device=first.device)
    for p in sharded:
        squares += torch.linalg.vector_norm(p.grad, dtype=dtype).full_tensor() ** 2
    if local:
        squares += torch.nn.utils.get_total_norm([p.grad for p in local], foreach=True).to(dtype) ** 2
    if pp_group is not None:
        dist.all_reduce(squares, group=pp_group)
    norm = squares.sqrt()
    if max_norm > 0:
        for params in (sharded, local):
            if params:
                torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
    return norm
