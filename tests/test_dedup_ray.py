"""The dedup plan on Ray (each map and shuffle piece a Ray task) decides exactly as in-process."""

from __future__ import annotations

import random

from jinglian.pipeline.ray_ops import RayOps
from tests.test_dedup import HANZI, edit, en_doc, run_dedup, write_parts, zh_doc


def test_ray_ops_give_the_same_verdicts(tmp_path, ray_local):
    rng = random.Random(10)
    base = [zh_doc(rng, 200) for _ in range(6)]
    texts = base + [edit(rng, base[0], 3, HANZI), base[1], en_doc(rng)]
    rows = write_parts(tmp_path, texts, per_part=5)
    local, _, _ = run_dedup(tmp_path, rows, name="local")
    distributed, _, _ = run_dedup(tmp_path, rows, ops=RayOps(str(tmp_path / "ray-ops")), name="ray")
    assert distributed == local
    assert local["d6"][0] == "dedup:near" and local["d7"] == ("dedup:exact", 1.0, "d1")
