"""The one-way flow of the code, asserted from the import statements themselves.

Every ``import`` and ``from ... import`` in ``src/smoulder`` (at module level and inside functions)
is read with :mod:`ast`; each layer may import only what sits below it (see docs/architecture.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "smoulder"

ENGINES = {"clinical", "imaging", "digital"}
OUTLETS = {"io", "store", "web", "cli", "report", "pipelines", "synth"}
#: Libraries that read or write files, talk to a database or serve the web: never in an engine.
IO_LIBRARIES = {
    "nibabel",
    "pydicom",
    "dicom2nifti",
    "bids",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "httpx",
    "requests",
    "urllib",
    "http",
    "sqlite3",
    "shutil",
    "tempfile",
    "pyarrow",
    "fhir",
    "xml",
    "zipfile",
}

#: layer -> smoulder subpackages it must not import
FORBIDDEN: dict[str, set[str]] = {
    "schema": ENGINES | OUTLETS,
    "clinical": OUTLETS,
    "imaging": OUTLETS,
    "digital": OUTLETS,
    "io": ENGINES | {"store", "web", "cli", "report", "pipelines", "synth"},
    "pipelines": {"store", "web", "cli", "report"},
    "store": {"web", "cli"},
    "report": {"web", "cli", "store"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import in a file, wherever it stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            # ``from smoulder import io`` imports the subpackage too
            if node.module == "smoulder":
                out.extend((node.lineno, f"smoulder.{a.name}") for a in node.names)
    return out


def violations(layer: str) -> list[str]:
    """Every import of ``layer`` that goes against the flow, as ``file:line -> module``."""
    found = []
    for f in sorted((SRC / layer).rglob("*.py")):
        rel = f.relative_to(SRC)
        for line, mod in _imports(f):
            parts = mod.split(".")
            bad = parts[0] == "smoulder" and len(parts) > 1 and parts[1] in FORBIDDEN[layer]
            if layer in ENGINES or layer == "schema":
                bad = bad or parts[0] in IO_LIBRARIES
            if bad:
                found.append(f"{rel}:{line} -> {mod}")
    return found


#: Layers still being restructured (issue 11); strict, so each entry must go once its layer is clean.
_RESTRUCTURING: set[str] = set()


@pytest.mark.parametrize(
    "layer",
    [
        pytest.param(
            x,
            marks=pytest.mark.xfail(
                x in _RESTRUCTURING, strict=True, reason="issue 11 in progress"
            ),
        )
        for x in sorted(FORBIDDEN)
    ],
)
def test_layer_imports_only_what_lies_below(layer):
    if not (SRC / layer).exists():
        pytest.skip(f"no {layer} package")
    assert violations(layer) == []


def test_only_the_result_base_calls_up_into_the_pipelines():
    callers = []
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC)
        if rel.parts[0] in {"pipelines", "cli", "store", "web", "report"}:
            continue
        for line, mod in _imports(f):
            if mod.startswith("smoulder.pipelines"):
                callers.append(f"{rel}:{line}")
    assert [c.split(":")[0] for c in callers] in ([], ["_result.py"])


def test_no_module_is_longer_than_600_lines():
    long = {
        str(f.relative_to(SRC)): n
        for f in SRC.rglob("*.py")
        if "migrations" not in f.parts
        and (n := len(f.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}
