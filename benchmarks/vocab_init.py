"""Where continued pretraining starts after a vocabulary extension, on real held-out Chinese: new
embedding and head rows as the mean of their base pieces' rows (``mean``), as the row of the last
(input) / first (head) base piece (``edges``), random (Normal(0, 0.02), what a plain resize
does) and zero.

A small base world, as in the Chinese-LLaMA setting: a base tokenizer that knows English words
and the most frequent Chinese characters (everything else falls back to bytes); a small LLaMA
trained on Chinese Wikipedia paragraphs and English prose with it; the base extended with
Chinese pieces by ``jinglian tokenizer extend`` (trained on the same Chinese). The three models
differ only in the new rows; each is scored on held-out paragraphs tokenized with the extended
tokenizer, in nats per token and bits per character (the base model on the base tokenization
gives the bits per character to get back to).

    python benchmarks/vocab_init.py [--steps 300] [--added 2000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import bench_data, print_machine  # noqa: E402
from jinglian.pretrain.model import ModelArgs, Transformer  # noqa: E402
from jinglian.pretrain.resize import grow_rows, plan_extension  # noqa: E402
from jinglian.tokenizers import corpus  # noqa: E402
from jinglian.tokenizers.extend import extend_files  # noqa: E402
from jinglian.tokenizers.model import save_proto  # noqa: E402
from jinglian.tokenizers.train import TrainConfig, train_proto  # noqa: E402

SEQ = 128
ROLE_INITS = ("mean", "edges", "zero")  # edges: last base piece for input rows, first for head rows


def load_texts(data: Path, held_out: int) -> tuple[list[str], list[str], list[str]]:
    rows = [json.loads(line) for line in open(data / "zh-wiki-mrc" / "unique_wiki_paragraphs.jsonl", encoding="utf-8")]
    zh = [r["text"] for r in rows]  # Simplified and Traditional
    lines = [line.strip() for line in (data / "english-text" / "botchan.txt").read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    english = [" ".join(lines[i : i + 10]) for i in range(0, len(lines), 10)]
    return zh[:-held_out], zh[-held_out:], english


def stream(sp, docs: list[str]) -> np.ndarray:
    return np.array([i for d in docs for i in sp.encode(d) + [sp.eos_id()]], dtype=np.int64)


def train_base(tokens: np.ndarray, vocab: int, steps: int, seed: int = 0) -> tuple[Transformer, ModelArgs]:
    args = ModelArgs(dim=128, n_layers=4, n_heads=4, n_kv_heads=2, vocab_size=vocab, ffn_hidden=352, max_seq_len=SEQ)
    model = Transformer(args, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    rng = np.random.default_rng(seed)
    for step in range(steps):
        starts = rng.integers(0, len(tokens) - SEQ - 1, 16)
        batch = torch.from_numpy(np.stack([tokens[s : s + SEQ + 1] for s in starts]))
        loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 50 == 0:
            print(f"  base step {step + 1}: train loss {loss.item():.3f}", flush=True)
    return model.eval(), args


@torch.no_grad()
def loss_on(model: Transformer, tokens: np.ndarray) -> tuple[float, int]:
    n = len(tokens) // (SEQ + 1)
    windows = torch.from_numpy(tokens[: n * (SEQ + 1)].reshape(n, SEQ + 1))
    total = 0.0
    for chunk in windows.split(16):
        total += float(F.cross_entropy(model(chunk[:, :-1]).flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum"))
    count = windows[:, 1:].numel()
    return total / count, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="training steps of the base model")
    ap.add_argument("--base-vocab", type=int, default=2000)
    ap.add_argument("--base-chars", type=int, default=700, help="Chinese characters the base tokenizer knows (LLaMA: about 700)")
    ap.add_argument("--added", type=int, default=2000, help="Chinese pieces the extension appends")
    ap.add_argument("--held-out", type=int, default=300, help="Wikipedia paragraphs kept for evaluation")
    ap.add_argument("--mixed-roles", action="store_true", help="also every (input rows, head rows) pair of mean / edges / zero")
    ap.add_argument("--cache", help="directory to keep the trained base model in (reused when present)")
    opts = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print_machine()
    zh_train, zh_eval, english = load_texts(bench_data(), opts.held_out)
    work = Path(tempfile.mkdtemp(prefix="vocab-init-"))
    start = time.perf_counter()

    counts = Counter(ch for t in zh_train for ch in t if corpus.han_count(ch))
    characters = [ch for ch, _ in counts.most_common(opts.base_chars)]
    base_proto = train_proto(english + characters * 3, TrainConfig(vocab_size=opts.base_vocab, num_threads=1))
    base_path, ext_path = str(work / "base.model"), str(work / "ext.model")
    save_proto(base_proto, base_path)
    (work / "zh.txt").write_text("\n".join(zh_train), encoding="utf-8")
    info = extend_files(base_path, ext_path, corpus_paths=[str(work / "zh.txt")], added_pieces=opts.added,
                        pad_to_multiple=128, config=TrainConfig(num_threads=1))
    base, ext = spm.SentencePieceProcessor(model_file=base_path), spm.SentencePieceProcessor(model_file=ext_path)
    print(f"base tokenizer {base.get_piece_size()} pieces; extended {info['vocab_size']} "
          f"({info['added_pieces']} Chinese pieces added) [{time.perf_counter() - start:.0f} s]")

    mixed = [d for pair in zip(zh_train, english * (len(zh_train) // len(english) + 1)) for d in pair]
    cached = Path(opts.cache) / f"base-{opts.steps}-{opts.base_vocab}-{opts.base_chars}-{opts.held_out}.pt" if opts.cache else None
    if cached and cached.exists():  # the same tokenizer training is deterministic; the model is reused
        saved = torch.load(cached)
        model = Transformer(ModelArgs(**saved["args"]))
        model.load_state_dict(saved["state"])
        model, args = model.eval(), model.args
        print(f"base model from {cached}")
    else:
        model, args = train_base(stream(base, mixed), base.get_piece_size(), opts.steps)
        print(f"base model trained: {opts.steps} steps [{time.perf_counter() - start:.0f} s]")
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"args": args.__dict__, "state": model.state_dict()}, cached)

    chars = sum(len(t) for t in zh_eval)
    base_loss, base_count = loss_on(model, stream(base, zh_eval))
    ext_tokens = stream(ext, zh_eval)
    plan = plan_extension(ext_path)
    new_share = float((ext_tokens >= plan.base_size).mean())
    rows = 128 * math.ceil(plan.size / 128)
    results = {}
    for init in ("mean", "edges", "random", "zero"):
        grown = Transformer(replace(args, vocab_size=rows)).eval()
        state = dict(model.state_dict())
        for name, role in (("tok_embeddings.weight", "input"), ("output.weight", "output")):
            state[name] = grow_rows(state[name], rows, plan, init, std=args.init_std, role=role)
        grown.load_state_dict(state)
        results[init] = loss_on(grown, ext_tokens)
    print(f"\nheld-out: {len(zh_eval)} Chinese Wikipedia paragraphs, {chars} characters; "
          f"{base_count} base tokens, {results['mean'][1]} extended tokens ({new_share:.0%} of them added pieces)")
    print(f"{'model':<44}{'nats/token':>12}{'bits/char':>11}")
    print(f"{'base model, base tokenizer (reference)':<44}{base_loss:>12.3f}{base_loss * base_count / chars / math.log(2):>11.3f}")
    for init, (loss, count) in results.items():
        label = f"extended, new rows {init}"
        print(f"{label:<44}{loss:>12.3f}{loss * count / chars / math.log(2):>11.3f}")
    for init in ("mean", "edges"):
        print(f"{init}: {results['random'][0] - results[init][0]:+.3f} nats/token below random, "
              f"{results['zero'][0] - results[init][0]:+.3f} below zero")
    if opts.mixed_roles:
        print("\nnats/token with the input rows and the head rows started differently:")
        print(f"{'input / head':<14}" + "".join(f"{h:>10}" for h in ROLE_INITS))
        for inp in ROLE_INITS:
            cells = []
            for head in ROLE_INITS:
                grown = Transformer(replace(args, vocab_size=rows)).eval()
                state = dict(model.state_dict())
                state["tok_embeddings.weight"] = grow_rows(state["tok_embeddings.weight"], rows, plan, inp, role="input")
                state["output.weight"] = grow_rows(state["output.weight"], rows, plan, head, role="output")
                grown.load_state_dict(state)
                cells.append(loss_on(grown, ext_tokens)[0])
            print(f"{inp:<14}" + "".join(f"{c:>10.3f}" for c in cells), flush=True)
    print(f"[{time.perf_counter() - start:.0f} s total]")


if __name__ == "__main__":
    main()
