"""Arrows point down: no import cycle inside w2s/ (lazy, function-level imports included, which
is how the old pipeline <-> experiments cycle hid), and train/ never imports the run config
that composes its settings."""

import ast
from pathlib import Path

import driftlab

ROOT = Path(driftlab.__file__).parent


def imports(path: Path) -> set[str]:
    """Every driftlab module `path` imports, at any depth of the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("driftlab"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import mod`
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("driftlab"))
    return out


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_w2s_modules_import_without_a_cycle():
    files = {module_name(p): p for p in (ROOT / "w2s").glob("*.py")}
    graph = {m: {i for i in imports(p) if i in files and i != m} for m, p in files.items()}
    graph["driftlab.w2s"] = set()  # the package's run_w2s sits on top of the rest
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, "import cycle: " + " -> ".join((*path, m))
        if m not in done:
            for n in graph[m]:
                visit(n, (*path, m))
            done.add(m)

    for m in graph:
        visit(m, ())
    assert "driftlab.w2s.units" in graph["driftlab.w2s.variants"]  # the arrow the cycle reversed


def test_train_does_not_import_the_run_config():
    for p in (ROOT / "train").glob("*.py"):
        assert "driftlab.config" not in imports(p), p.name
