"""The floors of the package hold: what each layer may import, checked over every module's source (ast).

core at the bottom imports only itself; stages, tokenizers, pretrain and cards stand on core and
never import the engine (jinglian.pipeline) or Ray; the engine imports no demo module by name.
Function-level imports count too: a lazy ``import ray`` is still a dependency on Ray.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jinglian

ROOT = Path(jinglian.__file__).parent
ABOVE_CORE = ("stages", "tokenizers", "pretrain", "cards")
# The Ray Train launcher of `jinglian pretrain --ray` is the one module of pretrain/ that talks to Ray.
RAY_ALLOWED = {"jinglian.pretrain.launch"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)  # `from jinglian import demo`
    return out


MODULES = sorted(ROOT.rglob("*.py"))


def is_under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(path: Path) -> list[str]:
    name = module_name(path)
    found = imports(path)
    bad = []
    if is_under(name, "jinglian.core"):
        bad += [m for m in found if is_under(m, "jinglian") and not is_under(m, "jinglian.core")]
    if is_under(name, "jinglian.core") or any(is_under(name, f"jinglian.{p}") for p in ABOVE_CORE):
        bad += [m for m in found if is_under(m, "jinglian.pipeline")]
        if name not in RAY_ALLOWED:
            bad += [m for m in found if is_under(m, "ray")]
    if is_under(name, "jinglian.pipeline"):
        bad += [m for m in found if is_under(m, "jinglian.demo")]
    return sorted(set(bad))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_module_imports_only_what_its_floor_may(path):
    assert violations(path) == []


def test_the_walk_sees_every_kind_of_import(tmp_path, monkeypatch):
    """The checker itself: lazy, relative and from-package imports are all found."""
    stage = ROOT / "stages" / "_layering_probe.py"
    source = "def f():\n    import ray.data\n\nfrom ..pipeline import executor\nfrom jinglian import demo\n"
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    assert violations(stage) == ["jinglian.pipeline", "jinglian.pipeline.executor", "ray.data"]
    engine = ROOT / "pipeline" / "_layering_probe.py"
    assert "jinglian.demo" in violations(engine)


def test_every_package_is_walked():
    names = {module_name(p) for p in MODULES}
    assert {"jinglian.core.stage", "jinglian.pipeline.executor", "jinglian.stages.crawl.frontier",
            "jinglian.pretrain.launch", "jinglian.cards.card", "jinglian.tokenizers.model"} <= names
