"""The stage packages import only what their place on the data's path allows (docs: How the code is laid out).

plan -> worker (isolated process) -> run -> results -> analysis -> render; ci and commands drive them.
"""

import ast
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

# What each stage must never import. The worker is the isolated process: nothing of the parent side.
# Analysis and render read results only: they never run a case, and never need the registry.
FORBIDDEN = {
    "worker": ("bench.run", "bench.ci", "bench.commands", "bench.render", "bench.experiments", "bench.results.store"),
    "analysis": ("bench.run", "bench.worker", "bench.ci", "bench.commands", "bench.render", "implementations", "torch"),
    "render": ("bench.run", "bench.worker", "bench.ci", "bench.commands", "implementations", "torch"),
    "plan": ("bench.run", "bench.worker", "bench.ci", "bench.commands", "bench.render", "bench.analysis"),
    "results": ("bench.run", "bench.worker", "bench.ci", "bench.commands", "bench.render", "bench.analysis"),
}
# The one analysis module the worker may use: order statistics over a list of samples, no state of the parent.
ALLOWED = {"worker": ("bench.analysis.stats",)}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (relative imports resolved)."""
    names = set()
    package = ".".join(path.relative_to(BENCH.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}".rstrip(".")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _violations(stage: str) -> list[str]:
    found = []
    for path in sorted((BENCH / stage).rglob("*.py")):
        for name in sorted(_imports(path)):
            if any(name == a or name.startswith(a + ".") for a in ALLOWED.get(stage, ())):
                continue
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[stage]):
                found.append(f"{path.relative_to(BENCH.parent)} imports {name}")
    return found


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_stage_imports_follow_the_data_path(stage):
    assert _violations(stage) == []


def test_the_rule_sees_imports_inside_functions(tmp_path, monkeypatch):
    stage = tmp_path / "bench" / "worker"
    stage.mkdir(parents=True)
    (stage / "leaky.py").write_text("def f():\n    from bench.run import runner\n    return runner\n")
    monkeypatch.setattr(sys.modules[__name__], "BENCH", tmp_path / "bench")
    leaky = "bench/worker/leaky.py imports"
    assert _violations("worker") == [f"{leaky} bench.run", f"{leaky} bench.run.runner"]


def test_no_command_imports_another_command():
    commands = BENCH / "commands"
    names = {p.stem for p in commands.glob("*.py") if not p.stem.startswith("_")}
    found = [
        f"{path.name} imports {name}"
        for path in sorted(commands.glob("*.py"))
        for name in _imports(path)
        if any(name == f"bench.commands.{other}" for other in names - {path.stem})
    ]
    assert found == []
