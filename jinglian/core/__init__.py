"""The floor everything stands on: stage API, run context, document columns, table ops, atomic writes, config validation, CJK ranges. Imports no Ray and nothing of jinglian.pipeline."""
