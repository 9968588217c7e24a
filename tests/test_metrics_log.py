"""The pretraining metrics log after a killed run: its appends are not atomic, so the last line can be torn."""

from __future__ import annotations

import json

from jinglian.pretrain.train import MetricsLog


def test_resume_drops_a_torn_last_line_and_the_lost_tail(tmp_path):
    rows = [{"event": "config"}, {"step": 1, "loss": 5.0}, {"step": 2, "loss": 4.0}, {"step": 3, "loss": 3.0}]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "lo'  # killed mid-append
    (tmp_path / "metrics.jsonl").write_text(text)
    log = MetricsLog(tmp_path, enabled=True, keep_until=2)  # resumed from the step-2 checkpoint
    assert [r["step"] for r in log.rows] == [1, 2]
    log.write({"step": 3, "loss": 2.5})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l) for l in lines] == [rows[0], rows[1], rows[2], {"step": 3, "loss": 2.5}]
