"""No module of emoreason imports back from a module that imports it (at module level, ``TYPE_CHECKING`` blocks
included): each part's shared types live in a module both import (``pipelines/video_options.py``, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

import emoreason

ROOT = Path(emoreason.__file__).parent
PATHS = sorted(ROOT.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """The emoreason modules imported at module level, in ``if`` blocks too (``TYPE_CHECKING``), not in functions."""
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    nodes = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If | ast.Try):
            nodes += node.body + node.orelse + getattr(node, "handlers", []) + getattr(node, "finalbody", [])
        elif isinstance(node, ast.ExceptHandler):
            nodes += node.body
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("emoreason")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("emoreason"):  # ``from pkg import module`` depends on the module, not the package
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return found


MODULES = {_module_name(p) for p in PATHS}


def test_no_module_imports_back_from_its_importer() -> None:
    graph: dict[str, set[str]] = {}
    for path in PATHS:
        name = _module_name(path)
        graph[name] = _top_level_imports(ast.parse(path.read_text(encoding="utf-8")), name, path.stem == "__init__")
    circles = sorted(
        f"{a} <-> {b}" for a, deps in graph.items() for b in deps if b in graph and a < b and a in graph[b]
    )
    assert not circles, circles


def test_the_video_pipeline_parts_take_their_options_from_video_options() -> None:
    for part in ("video_faces", "video_speech", "windows"):
        text = (ROOT / "pipelines" / f"{part}.py").read_text(encoding="utf-8")
        assert "from emoreason.pipelines.video import" not in text, part
