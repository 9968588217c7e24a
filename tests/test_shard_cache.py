"""Token shards in a bucket: `jinglian shards push`, then the pretraining loader reading them through its cache.

A real tokenize run's tokens/ goes to moto's S3 server on 127.0.0.1 (and to a plain HTTP server), is
loaded back by ``load_blend`` from ``s3://`` / ``http://`` into ``PackedDataset``, and must give the
samples of the local load. The servers' request logs show the upload order, the refetch of a bad
copy, and that a second load fetches no shard.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from jinglian.cli import main as cli_main
from jinglian.pretrain.data import PackedDataset, load_blend
from jinglian.pretrain.shard_cache import FETCH_TRIES, ShardFetchError
from jinglian.stages.token_shards import manifest
from jinglian.stages.token_shards.push import PUSH_MARKER, push
from tests.servers import serve_files
from tests.test_shards import corpus, run_stage, spm_model, write_rows  # noqa: F401  (spm_model: a fixture)

SEQ = 32


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, spm_model):  # noqa: F811
    """tokens/ of a real tokenize run: two sources, train and valid splits, several shards each."""
    root = tmp_path_factory.mktemp("run")
    rows = write_rows(root, corpus())
    _, _, tokens_dir = run_stage(root, rows, tokenizer=spm_model, shard_tokens=800, valid_ratio=0.2,
                                 weights={"zh-web": 0.7, "en/books": 0.3})
    m, _ = manifest.load_manifest(tokens_dir)
    assert len(m["shards"]) >= 4 and m["totals"]["valid"]["tokens"]
    return tokens_dir


def samples(prefixes, weights, cache_dir) -> np.ndarray:
    data = PackedDataset(prefixes, weights, seq_len=SEQ, seed=3, cache_dir=str(cache_dir), num_epochs=2)
    return np.stack([data[i] for i in range(len(data))])


def shard_gets(requests, bucket_prefix: str) -> list[str]:
    return [path for method, path in requests
            if method == "GET" and path.startswith(bucket_prefix) and path.endswith((".bin", ".idx"))]


def bucket_keys(s3_server, bucket: str, prefix: str) -> set[str]:
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for o in listed.get("Contents", [])}


def test_pushed_shards_load_from_s3_as_locally_and_a_second_load_uses_the_cache(tmp_path, tokens, s3_server):
    s3_server.client().create_bucket(Bucket="shards")
    options = {"endpoint_url": s3_server.endpoint}
    assert cli_main(["shards", "push", tokens, "s3://shards/run1/", "--storage-options", json.dumps(options)]) == 0

    puts = [path for method, path in s3_server.requests if method == "PUT" and path.startswith("/shards/run1/")]
    names = [p.rsplit("/", 1)[1] for p in puts]
    last_shard = max(i for i, n in enumerate(names) if n.endswith((".bin", ".idx")))
    assert names[last_shard + 1:] == ["manifest.json", "blend.txt", "blend-valid.txt"]  # a reader never sees a
    m, _ = manifest.load_manifest(tokens)                                                 # manifest before its shards
    assert names[0] == PUSH_MARKER and len(names) == 1 + 2 * len(m["shards"]) + 3  # the marker first, removed at the end
    assert bucket_keys(s3_server, "shards", "run1/") == {p[len("/shards/"):] for p in puts[1:]}

    cache = tmp_path / "cache"
    for split in ("train", "valid"):
        local = load_blend(tokens, split)
        remote = load_blend("s3://shards/run1", split, cache_dir=str(cache), storage_options=options)
        assert remote[1] == local[1]
        assert all(p.startswith(str(cache)) for p in remote[0])
        assert np.array_equal(samples(*remote, tmp_path / f"idx-remote-{split}"),
                              samples(*local, tmp_path / f"idx-local-{split}"))
        # the blend file pushed beside the manifest names the same shards (weights as printed, 12 digits)
        name = manifest.BLEND_FILES[split]
        via_txt = load_blend(f"s3://shards/run1/{name}", cache_dir=str(cache), storage_options=options)
        assert via_txt[0] == remote[0] and via_txt[1] == pytest.approx(remote[1], rel=1e-9)

    fetched = len(shard_gets(s3_server.requests, "/shards/run1/"))
    assert fetched == 2 * len(m["shards"])  # each file once: the blend .txt loads found them all in the cache
    again = load_blend("s3://shards/run1/manifest.json", "train", cache_dir=str(cache), storage_options=options)
    assert len(shard_gets(s3_server.requests, "/shards/run1/")) == fetched
    assert np.array_equal(samples(*again, tmp_path / "idx-again"), samples(*load_blend(tokens), tmp_path / "idx-l2"))


def test_a_corrupt_shard_in_the_bucket_is_fetched_once_more_then_refused_by_name(tmp_path, tokens, s3_server):
    s3 = s3_server.client()
    s3.create_bucket(Bucket="shards")
    options = {"endpoint_url": s3_server.endpoint}
    push(tokens, "s3://shards/run2", options)
    m, _ = manifest.load_manifest(tokens)
    victim = manifest.relative_blend(m, "train")[0][0]
    key = f"run2/{victim}.bin"
    with open(os.path.join(tokens, f"{victim}.bin"), "rb") as f:
        data = f.read()
    s3.put_object(Bucket="shards", Key=key, Body=bytes([data[0] ^ 1]) + data[1:])  # one bit, same size

    cache = tmp_path / "cache"
    with pytest.raises(ShardFetchError, match=f"run2/{victim}.bin: fetched {FETCH_TRIES} times"):
        load_blend("s3://shards/run2", cache_dir=str(cache), storage_options=options)
    assert shard_gets(s3_server.requests, f"/shards/{key}") == [f"/shards/{key}"] * FETCH_TRIES
    left = [f for _, _, files in os.walk(cache) for f in files]
    assert f"{os.path.basename(victim)}.bin" not in left and not [f for f in left if ".tmp-" in f]

    s3.put_object(Bucket="shards", Key=key, Body=data)  # repaired in the bucket: the next load succeeds
    prefixes, weights = load_blend("s3://shards/run2", cache_dir=str(cache), storage_options=options)
    assert np.array_equal(samples(prefixes, weights, tmp_path / "i1"), samples(*load_blend(tokens), tmp_path / "i2"))


def published_files(tokens: str, tmp_path) -> dict:
    """URL path -> bytes of a tokens dir pushed to a local destination: what a web server would serve."""
    published = tmp_path / "published"
    push(tokens, str(published))
    return {f"/{os.path.relpath(os.path.join(d, f), published)}": open(os.path.join(d, f), "rb").read()
            for d, _, names in os.walk(published) for f in names}


def test_over_http_a_torn_fetch_and_a_damaged_cache_copy_are_fetched_again(tmp_path, tokens):
    files = published_files(tokens, tmp_path)
    m, _ = manifest.load_manifest(tokens)
    victim = f"/{manifest.relative_blend(m, 'train')[0][1]}.bin"
    cache = tmp_path / "cache"
    expected = samples(*load_blend(tokens), tmp_path / "idx-local")
    with serve_files(files, corrupt={victim}) as server:
        prefixes, weights = load_blend(server.url + "/manifest.json", cache_dir=str(cache))
        assert np.array_equal(samples(prefixes, weights, tmp_path / "idx-1"), expected)
        assert shard_gets([r[:2] for r in server.requests], victim) == [victim] * 2  # torn, then whole

        copy = next(p for p in prefixes if p.endswith(victim[:-len(".bin")]))
        with open(copy + ".bin", "r+b") as f:  # the cached copy damaged on disk
            f.write(b"\0\0")
        before = len(server.requests)
        prefixes, weights = load_blend(server.url + "/manifest.json", cache_dir=str(cache))
        assert [r[1] for r in server.requests[before:] if r[0] == "GET" and r[1].endswith((".bin", ".idx"))] == [victim]
        assert np.array_equal(samples(prefixes, weights, tmp_path / "idx-2"), expected)


def test_pretraining_on_shards_in_a_bucket_trains_as_on_the_local_ones(tmp_path, tokens, s3_server, monkeypatch):
    """`data.tokens_dir: s3://...` with the endpoint in `data.storage_options` (none in the environment)
    and the cache from the environment: the vocabulary comes from the remote manifest and the losses
    equal those of the run on the local directory."""
    from tests.test_pretrain import _config, _spawn

    s3_server.client().create_bucket(Bucket="shards")
    endpoint = {"endpoint_url": s3_server.endpoint}
    push(tokens, "s3://shards/run3", endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("JINGLIAN_CACHE", str(tmp_path / "jinglian-cache"))
    losses = {}
    remote = {"tokens_dir": "s3://shards/run3", "storage_options": endpoint}
    for name, data in (("local", {"tokens_dir": tokens}), ("s3", remote)):
        cfg = _config(tmp_path, name, data=data, train={"steps": 2, "eval_every": 1, "eval_batches": 1})
        del cfg["model"]["vocab_size"]
        (ranks,) = _spawn(1, [(cfg, 2)], tmp_path, name)
        losses[name] = [(r["loss"], r["valid_loss"]) for r in ranks[0]["rows"]]
    assert losses["s3"] == losses["local"] and len(losses["s3"]) == 2
    assert os.listdir(tmp_path / "jinglian-cache" / "shards")  # the default cache: $JINGLIAN_CACHE/shards


def test_shards_in_a_bucket_made_with_another_tokenizer_are_refused(tmp_path, tokens):
    from jinglian.pretrain.warmstart import check_token_shards

    files = published_files(tokens, tmp_path)
    other = tmp_path / "other.model"
    other.write_bytes(b"not the tokenizer the shards were made with")
    with serve_files(files) as server:
        with pytest.raises(ValueError, match="was tokenized with"):
            check_token_shards(server.url, str(other), vocab=1_000_000)
        with pytest.raises(ValueError, match="token ids up to"):
            check_token_shards(server.url, None, vocab=2)


def http_shard_gets(server) -> list[str]:
    return [path for method, path, _ in server.requests if method == "GET" and path.endswith((".bin", ".idx"))]


def test_a_cached_copy_is_trusted_by_its_record_until_it_changes_and_verify_hashes_it_again(tmp_path, tokens):
    """The record beside a verified copy spares the next load its hashing; a copy written since (even at
    once, within the filesystem's timestamp tick) is fetched again; ``verify`` hashes whatever the record says."""
    files = published_files(tokens, tmp_path)
    cache = tmp_path / "cache"
    with serve_files(files) as server:
        prefixes, _ = load_blend(server.url, cache_dir=str(cache))
        fetched = len(http_shard_gets(server))
        assert fetched == 2 * len(prefixes)
        victim = prefixes[0] + ".bin"
        whole = open(victim, "rb").read()
        assert os.path.exists(victim + ".verified")

        before = os.stat(victim)
        with open(victim, "r+b") as f:  # damaged in place, then its size, mtime and inode made as recorded
            f.write(bytes([whole[0] ^ 1]))
        os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
        load_blend(server.url, cache_dir=str(cache))
        assert len(http_shard_gets(server)) == fetched  # trusted unhashed: nothing fetched, the damage not seen
        assert open(victim, "rb").read() != whole

        load_blend(server.url, cache_dir=str(cache), verify=True)  # every copy hashed: the damaged one fetched
        gets = http_shard_gets(server)[fetched:]
        assert len(gets) == 1 and victim.endswith(gets[0]) and open(victim, "rb").read() == whole

        with open(victim, "r+b") as f:  # damaged in place right after its verification: the mtime moved
            f.write(bytes([whole[0] ^ 1]))
        load_blend(server.url, cache_dir=str(cache))
        assert http_shard_gets(server)[fetched + 1:] == gets and open(victim, "rb").read() == whole


RANK = """
import json, sys
from jinglian.pretrain.data import load_blend
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(load_blend(sys.argv[1], cache_dir=sys.argv[2])[0]), flush=True)
"""


def test_ranks_on_one_node_share_the_cache_and_fetch_each_shard_once(tmp_path, tokens):
    """Four processes started together on one cache directory: every shard file crosses the wire once
    (the per-file lock), and all get the same verified copies."""
    import subprocess
    import sys

    files = published_files(tokens, tmp_path)
    cache = tmp_path / "cache"
    with serve_files(files) as server:
        ranks = [subprocess.Popen([sys.executable, "-c", RANK, server.url, str(cache)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for _ in range(4)]
        for rank in ranks:
            assert rank.stdout.readline().strip() == "ready"
        for rank in ranks:  # all imported: they start their loads together
            rank.stdin.write("go\n")
            rank.stdin.flush()
        results = [json.loads(rank.communicate()[0]) for rank in ranks]
        assert all(rank.returncode == 0 for rank in ranks)
        gets = http_shard_gets(server)
    assert results[0] and all(r == results[0] for r in results)
    assert len(gets) == len(set(gets)) == 2 * len(results[0])
    local_prefixes, weights = load_blend(tokens)
    assert np.array_equal(samples(results[0], weights, tmp_path / "idx-remote"),
                          samples(local_prefixes, weights, tmp_path / "idx-local"))


def loads_as(remote: tuple[list[str], list[float]], tokens_dir: str, tmp_path) -> bool:
    """Whether a remote blend gives the samples of the local tokens directory."""
    return np.array_equal(samples(*remote, tmp_path / "idx-remote"), samples(*load_blend(tokens_dir), tmp_path / "idx-local"))


def shard_puts(requests, bucket_prefix: str) -> list[str]:
    return [path for method, path in requests
            if method == "PUT" and path.startswith(bucket_prefix) and path.endswith((".bin", ".idx"))]


def variant(tokens: str, root, change) -> tuple[str, dict]:
    """A copy of the tokens directory with ``change(manifest, directory)`` applied and the manifest
    (checksums included) written again: what a later tokenize run might have produced."""
    import shutil

    copy = str(root)
    shutil.copytree(tokens, copy)
    m, _ = manifest.load_manifest(copy)
    change(m, copy)
    manifest.write_manifest(copy, m)
    return copy, m


def rename_first_shard(m: dict, directory: str) -> None:
    from jinglian.stages.token_shards import indexed

    s = m["shards"][0]
    for ext in ("bin", "idx"):
        os.rename(os.path.join(directory, f"{s['prefix']}.{ext}"), os.path.join(directory, f"{s['prefix']}-renamed.{ext}"))
    s["prefix"] += "-renamed"
    s["checksums"] = indexed.shard_checksums(os.path.join(directory, s["prefix"]))


def reverse_first_shard_tokens(m: dict, directory: str) -> None:
    """Same size, same documents' lengths, other tokens: only a checksum tells the two apart."""
    from jinglian.stages.token_shards import indexed

    s = m["shards"][0]
    path = os.path.join(directory, f"{s['prefix']}.bin")
    np.fromfile(path, dtype=s["dtype"])[::-1].copy().tofile(path)
    s["checksums"] = indexed.shard_checksums(os.path.join(directory, s["prefix"]))


def test_a_second_push_sends_only_what_changed_and_prune_removes_only_the_old_manifests_shards(tmp_path, tokens, s3_server):
    s3 = s3_server.client()
    s3.create_bucket(Bucket="shards")
    options = {"endpoint_url": s3_server.endpoint}
    m, _ = manifest.load_manifest(tokens)
    files = 2 * len(m["shards"])
    for key in ("run5/notes.txt", "run5/zh-web/train/someone-elses.bin"):  # keys no manifest names: never touched
        s3.put_object(Bucket="shards", Key=key, Body=b"not ours")

    assert push(tokens, "s3://shards/run5", options)["uploaded"] == files
    before = len(s3_server.requests)
    again = push(tokens, "s3://shards/run5", options)
    assert (again["uploaded"], again["skipped"], again["bytes"]) == (0, files, 0)
    assert shard_puts(s3_server.requests[before:], "/shards/run5/") == []  # the second push sent no shard

    renamed, m2 = variant(tokens, tmp_path / "renamed", rename_first_shard)
    old_prefix, new_prefix = m["shards"][0]["prefix"], m2["shards"][0]["prefix"]
    before = len(s3_server.requests)
    done = push(renamed, "s3://shards/run5", options, prune=True)
    assert sorted(shard_puts(s3_server.requests[before:], "/shards/run5/")) == [
        f"/shards/run5/{new_prefix}.bin", f"/shards/run5/{new_prefix}.idx"]
    assert (done["uploaded"], done["skipped"], done["pruned"]) == (2, files - 2, 2)
    keys = bucket_keys(s3_server, "shards", "run5/")
    assert not {f"run5/{old_prefix}.bin", f"run5/{old_prefix}.idx"} & keys
    assert {"run5/notes.txt", "run5/zh-web/train/someone-elses.bin", f"run5/{new_prefix}.bin"} <= keys
    assert f"run5/{PUSH_MARKER}" not in keys
    cache = tmp_path / "cache"
    assert loads_as(load_blend("s3://shards/run5", cache_dir=str(cache), storage_options=options), renamed, tmp_path)

    # without --prune the shards the new manifest no longer names stay
    push(tokens, "s3://shards/run5", options)
    assert {f"run5/{old_prefix}.bin", f"run5/{new_prefix}.bin"} <= bucket_keys(s3_server, "shards", "run5/")


def test_an_interrupted_push_is_completed_by_the_next_one_whatever_the_old_manifest_says(tmp_path, tokens, s3_server,
                                                                                       monkeypatch):
    """A push of other tokens that dies after replacing a shard but before its manifest leaves the old
    manifest vouching for an object it no longer describes (same size, other bytes). The next push must
    not skip that object: the marker of the dead push names it."""
    from jinglian.core.filesystem import filesystem

    s3_server.client().create_bucket(Bucket="shards")
    options = {"endpoint_url": s3_server.endpoint}
    push(tokens, "s3://shards/run6", options)
    other, m2 = variant(tokens, tmp_path / "other", reverse_first_shard_tokens)
    victim = f"{m2['shards'][0]['prefix']}.bin"

    fs = filesystem("s3://shards/run6", options)  # the instance push uses: its manifest upload fails
    real_pipe = fs.pipe_file

    def dies_at_the_manifest(path, data, **kwargs):
        if path.endswith(manifest.MANIFEST):
            raise ConnectionError("killed before the manifest")
        return real_pipe(path, data, **kwargs)

    monkeypatch.setattr(fs, "pipe_file", dies_at_the_manifest)
    before = len(s3_server.requests)
    with pytest.raises(ConnectionError):
        push(other, "s3://shards/run6", options)
    assert shard_puts(s3_server.requests[before:], "/shards/run6/") == [f"/shards/run6/{victim}"]
    monkeypatch.undo()

    before = len(s3_server.requests)
    done = push(tokens, "s3://shards/run6", options)  # back to the first tokens: the victim goes up again
    assert shard_puts(s3_server.requests[before:], "/shards/run6/") == [f"/shards/run6/{victim}"]
    assert done["uploaded"] == 1 and f"run6/{PUSH_MARKER}" not in bucket_keys(s3_server, "shards", "run6/")
    cache = tmp_path / "cache"
    assert loads_as(load_blend("s3://shards/run6", cache_dir=str(cache), storage_options=options), tokens, tmp_path)


def test_a_second_push_to_a_local_directory_copies_nothing(tmp_path, tokens):
    m, _ = manifest.load_manifest(tokens)
    first = push(tokens, str(tmp_path / "published"))
    second = push(tokens, str(tmp_path / "published"))
    assert (first["uploaded"], second["uploaded"], second["skipped"]) == (2 * len(m["shards"]), 0, 2 * len(m["shards"]))


def test_secrets_in_the_pretrain_configs_storage_options_are_refused():
    from jinglian.core.config import ConfigError
    from jinglian.pretrain.config import from_dict

    ok = from_dict({"model": {"vocab_size": 64},
                    "data": {"tokens_dir": "s3://b/t", "storage_options": {"endpoint_url": "http://x"}}})
    assert ok.data.storage_options == {"endpoint_url": "http://x"}
    with pytest.raises(ConfigError, match="data.storage_options.secret_access_key: credentials do not belong"):
        from_dict({"model": {"vocab_size": 64}, "data": {"storage_options": {"secret_access_key": "x"}}})
