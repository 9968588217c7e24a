"""Continued pretraining from a Hugging Face checkpoint with a Chinese-extended vocabulary.

A small base world made here: a base tokenizer trained on generated mixed text, a tiny LLaMA
trained on that text with it and exported to a Hugging Face directory (with its tokenizer),
and the base tokenizer extended with Chinese pieces by ``extend_files`` (which writes the
sidecar). Then: the resize keeps base rows and initialises new rows from their pieces; the mean
start has a lower loss on held-out Chinese than random or zero rows; the trainer continues from
the checkpoint with an embeddings-only first phase; the result exports and generates.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import sentencepiece as spm
import torch
import torch.nn.functional as F
from sentencepiece import sentencepiece_model_pb2 as pb

from jinglian.pretrain import hf
from jinglian.pretrain.config import from_dict
from jinglian.pretrain.model import ModelArgs, Transformer
from jinglian.pretrain.resize import VocabularyError, plan_extension
from jinglian.pretrain.warmstart import prepare
from jinglian.tokenizers import corpus
from jinglian.tokenizers.extend import extend_files, train_added
from jinglian.tokenizers.model import save_proto
from jinglian.tokenizers.train import TrainConfig, train_proto
from tests.tokenizer_fixtures import mixed_corpus, zh_document

SEQ = 64


def _encode_stream(sp, docs: list[str]) -> np.ndarray:
    return np.array([i for d in docs for i in sp.encode(d) + [sp.eos_id()]], dtype=np.int64)


def _windows(stream: np.ndarray, n: int | None = None) -> torch.Tensor:
    count = len(stream) // (SEQ + 1) if n is None else n
    return torch.from_numpy(stream[: count * (SEQ + 1)].reshape(count, SEQ + 1))


def _train_base(stream: np.ndarray, vocab: int, steps: int = 60) -> tuple[Transformer, ModelArgs]:
    args = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=vocab, ffn_hidden=128, max_seq_len=SEQ)
    model = Transformer(args, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        starts = rng.integers(0, len(stream) - SEQ - 1, 16)
        batch = torch.from_numpy(np.stack([stream[s : s + SEQ + 1] for s in starts]))
        loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), args


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("continued")
    docs = mixed_corpus(seed=0, zh_docs=120, en_docs=60)
    lines = [line for d in docs for line in d.splitlines() if line.strip()]
    # Like LLaMA's: the base knows English words and the Chinese characters, few Chinese words.
    english = [line for line in lines if not corpus.han_count(line)]
    characters = sorted({ch for line in lines for ch in line if not ch.isascii()})
    base = train_proto(english + characters * 3, TrainConfig(vocab_size=600, num_threads=1))
    base_path, zh_path, ext_path = str(tmp / "base.model"), str(tmp / "zh.model"), str(tmp / "ext.model")
    save_proto(base, base_path)
    zh, _ = train_added(lines, base, 200, TrainConfig(num_threads=1))
    save_proto(zh, zh_path)
    info = extend_files(base_path, ext_path, add_path=zh_path, added_pieces=200, pad_to_multiple=64)
    base_sp = spm.SentencePieceProcessor(model_file=base_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only contend on a shared machine
    try:
        model, args = _train_base(_encode_stream(base_sp, docs), len(base.pieces))
    finally:
        torch.set_num_threads(threads)
    hf.save_model(model, args, tmp / "base-ckpt", hf_config={"bos_token_id": base_sp.bos_id(), "eos_token_id": base_sp.eos_id()})
    hf.export_hf(tmp / "base-ckpt", tmp / "base-hf", tokenizer=base_path)  # tokenizer.model: the base
    rng = random.Random(99)  # held-out Chinese, not in the training documents
    held_out = [zh_document(rng, 16) for _ in range(12)]
    return {"tmp": tmp, "model": model, "base_path": base_path, "ext_path": ext_path, "info": info,
            "hf": str(tmp / "base-hf"), "held_out": held_out, "base_sp": base_sp}


def _config(world, tmp_path, tp: int = 1, **init) -> dict:
    return {"model": {"init_from": {"hf": world["hf"], "tokenizer": world["ext_path"], **init}},
            "data": {"seq_len": SEQ, "micro_batch_size": 4, "synthetic_samples": 64},
            "parallel": {"tp": tp}, "optim": {"lr": 1e-3, "warmup_steps": 1},
            "train": {"steps": 2, "output_dir": str(tmp_path / "run"), "resume": False, "log_every": 1}}


def _warm_model(cfg: dict) -> Transformer:
    warm = prepare(from_dict(cfg))
    model = Transformer(warm.args).eval()
    warm.load_into(model)
    return model


def test_resize_keeps_base_rows_and_starts_new_rows_from_their_pieces(world, tmp_path):
    model = _warm_model(_config(world, tmp_path, tp=2))
    base, info = world["model"], world["info"]
    n_base, n_ext = info["base_vocab_size"], info["vocab_size"]
    rows = model.args.vocab_size
    assert rows % 256 == 0 and n_ext <= rows < n_ext + 256  # padded to pad_vocab_to (128) x tp (2)
    for name in ("tok_embeddings", "output"):
        grown, old = getattr(model, name).weight, getattr(base, name).weight
        assert torch.equal(grown[:n_base], old)  # every base id keeps its row
        assert not grown[n_ext:].any()  # padding to the TP multiple: rows no text produces
    # New rows: the mean of the base rows of the pieces the base tokenizer splits the piece into,
    # worked out here with SentencePiece directly.
    ext = spm.SentencePieceProcessor(model_file=world["ext_path"])
    probe = pb.ModelProto()
    probe.ParseFromString(world["base_sp"].serialized_model_proto())
    probe.normalizer_spec.add_dummy_prefix = False
    split = spm.SentencePieceProcessor(model_proto=probe.SerializeToString())
    checked = 0
    for i in range(n_base, n_ext):
        if ext.is_control(i):
            assert not model.tok_embeddings.weight[i].any()  # the extension's <reserved_N> padding
            continue
        parts = [p for p in split.encode(ext.id_to_piece(i).replace("▁", " ")) if not split.is_byte(p)]
        assert all(p < n_base for p in parts)
        for name in ("tok_embeddings", "output"):
            # A piece the base tokenizer could only spell in bytes: zero head row, byte-mean input row.
            if not parts and name == "output":
                want = torch.zeros(model.args.dim)
            else:
                every = split.encode(ext.id_to_piece(i).replace("▁", " "))
                want = getattr(base, name).weight[parts or every].mean(0)
            torch.testing.assert_close(getattr(model, name).weight[i], want, rtol=0, atol=1e-7)
        checked += 1
    assert checked == info["added_pieces"] > 50


def test_rows_from_pieces_start_from_a_lower_chinese_loss_than_random_or_zero(world, tmp_path):
    ext = spm.SentencePieceProcessor(model_file=world["ext_path"])
    batch = _windows(_encode_stream(ext, world["held_out"]))
    new_share = float((batch >= world["info"]["base_vocab_size"]).float().mean())
    losses = {}
    for init in ("mean", "edges", "random", "zero"):
        model = _warm_model(_config(world, tmp_path, new_rows=init))
        with torch.no_grad():
            losses[init] = float(F.cross_entropy(model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten()))
    print(f"held-out Chinese, {batch[:, 1:].numel()} tokens ({new_share:.0%} of them added pieces): "
          + ", ".join(f"{k} {v:.3f}" for k, v in losses.items()) + " nats/token")
    assert new_share > 0.3
    for init in ("mean", "edges"):
        assert losses[init] < losses["random"] and losses[init] < losses["zero"], init


def test_edges_rows_read_as_the_last_piece_and_predict_as_the_first(world, tmp_path):
    model = _warm_model(_config(world, tmp_path, new_rows="edges"))
    base, plan = world["model"], plan_extension(world["ext_path"], world["hf"])
    multi = [i for i in plan.parts if len(plan.meaningful_parts(i)) > 1]
    assert len(multi) > 50
    for i in multi:
        parts = plan.meaningful_parts(i)
        assert torch.equal(model.tok_embeddings.weight[i], base.tok_embeddings.weight[parts[-1]])
        assert torch.equal(model.output.weight[i], base.output.weight[parts[0]])


def test_a_character_the_base_knew_only_as_bytes():
    from jinglian.pretrain.resize import VocabExtension, grow_rows

    weight = torch.arange(12.0).reshape(6, 2) + 1
    plan = VocabExtension(base_size=6, size=9, parts={6: [3, 4, 5], 7: [1, 2], 8: [1, 5]}, byte_ids=frozenset({3, 4, 5}))
    head = grow_rows(weight, 10, plan, "mean", role="output")
    assert not head[6].any()  # bytes only: no head row to borrow
    assert torch.equal(head[7], weight[[1, 2]].mean(0)) and torch.equal(head[8], weight[1])  # bytes left out
    assert not head[9].any()
    embedding = grow_rows(weight, 10, plan, "mean", role="input")
    assert torch.equal(embedding[6], weight[[3, 4, 5]].mean(0))  # never a zero input row (RMSNorm at 0)
    assert torch.equal(embedding[8], weight[1])


def test_extension_checks(world, tmp_path):
    plan = plan_extension(world["ext_path"], world["hf"])
    assert plan.base_tokenizer == f"{world['hf']}/tokenizer.model"  # found in the model directory by its hash
    hf.import_hf(world["hf"], tmp_path / "ckpt")  # the converted checkpoint carries the base tokenizer
    assert plan_extension(world["ext_path"], str(tmp_path / "ckpt")).base_tokenizer == f"{tmp_path / 'ckpt'}/tokenizer.model"
    with pytest.raises(VocabularyError, match="no sidecar"):
        plan_extension(world["base_path"])
    other = tmp_path / "other.model"  # an extension of a different base is refused
    lines = [f"{w} other words {i}" for i, w in enumerate(["alpha", "beta", "gamma"] * 200)]
    save_proto(train_proto(lines, TrainConfig(vocab_size=300, num_threads=1)), str(tmp_path / "other-base.model"))
    extend_files(str(tmp_path / "other-base.model"), str(other), add_path=str(world["tmp"] / "zh.model"), added_pieces=20)
    (tmp_path / "other-base.model").unlink()
    with pytest.raises(VocabularyError, match="base tokenizer"):
        plan_extension(str(other), world["hf"])
    with pytest.raises(ValueError, match="exactly one of hf"):
        from_dict({"model": {"init_from": {"tokenizer": world["ext_path"]}}})
    with pytest.raises(ValueError, match="adapt a pretrained model"):
        from_dict({"model": {"vocab_size": 256}, "train": {"embeddings_only_steps": 5}})
    with pytest.raises(ValueError, match="shape from the checkpoint"):
        from_dict({"model": {"init_from": {"hf": world["hf"]}, "dim": 128}})


@pytest.mark.slow
def test_continue_with_embeddings_first_then_all_and_export(world, tmp_path):
    """Trainer from the Hugging Face checkpoint: step 1 updates only embedding and head, step 2
    everything; the step-2 checkpoint exports to a model transformers loads with the same logits."""
    transformers = pytest.importorskip("transformers")
    import torch.distributed as dist

    from jinglian.pretrain.launch import init_distributed
    from jinglian.pretrain.train import Trainer

    cfg = _config(world, tmp_path)
    cfg["train"]["embeddings_only_steps"] = 1
    created = init_distributed()
    try:
        trainer = Trainer(from_dict(cfg))
        model = trainer.par.parts[0]
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        trainer.fit(1)
        after1 = {n: p.detach().clone() for n, p in model.named_parameters()}
        trainer.fit(2)
        after2 = {n: p.detach().clone() for n, p in model.named_parameters()}
    finally:
        if created:
            dist.destroy_process_group()
    vocab_rows = ("tok_embeddings.weight", "output.weight")
    for name in before:
        changed1, changed2 = not torch.equal(before[name], after1[name]), not torch.equal(after1[name], after2[name])
        assert changed1 == (name in vocab_rows), name
        assert changed2, name
    ckpt = tmp_path / "run" / "checkpoints" / "step-00000002"
    hf.export_hf(ckpt, tmp_path / "export", tokenizer=world["ext_path"])
    theirs = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "export", dtype=torch.float32).eval()
    ext = spm.SentencePieceProcessor(model_file=world["ext_path"])
    x = torch.tensor([ext.encode(world["held_out"][0])[:SEQ]])
    with torch.no_grad():
        want, got = theirs(x).logits, model.eval()(x)
    assert float((got - want).abs().max() / want.abs().max()) < 1e-5
    out = theirs.generate(x[:, :8], max_new_tokens=5, do_sample=False)
    assert out.shape == (1, 13) and ext.decode(out[0].tolist())


@pytest.mark.slow
def test_after_run_continues_exports_and_generates(world, tmp_path, capsys):
    """The demo's pretraining step on a run output of this test's making: random HF LLaMA for the
    base tokenizer -> convert -> grow -> train on the token shards -> export -> transformers generates."""
    pytest.importorskip("transformers")
    from jinglian.pretrain.after_run import pretrain_after_run
    from jinglian.stages.token_shards import indexed, manifest

    output = tmp_path / "run"
    extended = output / "tokenizer" / "tokenizer.model"
    extend_files(world["base_path"], str(extended), add_path=str(world["tmp"] / "zh.model"), added_pieces=200,
                 pad_to_multiple=64)
    sp = spm.SentencePieceProcessor(model_file=str(extended))
    rng, records = random.Random(5), []
    for split, n_docs in (("train", 30), ("valid", 4)):
        docs = [sp.encode(zh_document(rng)) + [sp.eos_id()] for _ in range(n_docs)]
        (output / "tokens" / "web").mkdir(parents=True, exist_ok=True)
        indexed.write_shard(str(output / "tokens" / "web" / f"{split}-00000"), docs, np.uint16)
        records.append({"prefix": f"web/{split}-00000", "source": "web", "split": split, "docs": n_docs,
                        "tokens": sum(map(len, docs))})
    info = {"vocab_size": sp.get_piece_size(), "eod_id": sp.eos_id()}
    manifest.write_manifest(str(output / "tokens"), manifest.build_manifest(records, info, {"web": 1.0}, 0.1, 10**6))

    where = pretrain_after_run("jobs/pretrain-continue-tiny.yaml", str(output), steps=4, continue_from="random")
    printed = capsys.readouterr().out
    export = output / "pretrain" / "hf-export"
    assert where["export"] == str(export)
    assert {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"} <= {p.name for p in export.iterdir()}
    assert f"-> {export}" in printed and "generated with transformers" in printed
    exported = hf.HFCheckpoint(export)
    assert exported.args.vocab_size == 768 and exported.args.vocab_size >= sp.get_piece_size()
    assert exported.args.n_layers == 2 and not exported.args.tie_embeddings


@pytest.mark.slow
def test_resume_inside_the_embeddings_only_phase_is_exact(world, tmp_path):
    """A checkpoint from the frozen phase (no updates yet for most parameters) loads into a fresh
    optimizer and the run continues exactly as an uninterrupted one."""
    import torch.distributed as dist

    from jinglian.pretrain.launch import init_distributed
    from jinglian.pretrain.train import Trainer

    def config(name: str, resume: bool) -> dict:
        cfg = _config(world, tmp_path / name)
        cfg["train"].update(steps=3, embeddings_only_steps=2, resume=resume)
        return cfg

    created = init_distributed()
    try:
        straight = [r["loss"] for r in Trainer(from_dict(config("straight", False))).fit()]
        Trainer(from_dict(config("split", True))).fit(1)
        resumed = Trainer(from_dict(config("split", True))).fit()
    finally:
        if created:
            dist.destroy_process_group()
    assert [r["loss"] for r in resumed] == straight and len(straight) == 3


def test_token_shards_of_another_tokenizer_are_refused(world, tmp_path):
    from jinglian.pretrain.warmstart import check_token_shards
    from jinglian.tokenizers.model import file_sha256

    (tmp_path / "manifest.json").write_text(
        '{"tokenizer": {"path": "base.model", "sha256": "%s", "vocab_size": 600}}' % file_sha256(world["base_path"]))
    with pytest.raises(ValueError, match="tokenized with base.model"):
        check_token_shards(str(tmp_path), world["ext_path"], 768)
    check_token_shards(str(tmp_path), world["base_path"], 768)
    with pytest.raises(ValueError, match="model has 512 rows"):
        check_token_shards(str(tmp_path), None, 512)
