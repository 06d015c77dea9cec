"""The house rules that keep the front end thin, checked on the imports of the code itself:
the engine never imports Streamlit; a view reads numbers from `Results` and text from `format`,
never from an endpoint module; every view is registered once, from VIEWS."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from views import VIEWS

ROOT = Path(__file__).resolve().parent.parent
ENDPOINT_MODULES = {"baseline", "continuous", "proportions", "relapse", "response", "safety", "steroids", "survival"}


def imported(path: Path) -> set[str]:
    """Every module a file imports, as dotted names (from analysis import plots → analysis.plots)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = f"analysis.{node.module}" if node.level else node.module
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "analysis").glob("*.py")), ids=lambda p: p.name)
def test_the_engine_never_imports_streamlit(path):
    assert not {n for n in imported(path) if n.split(".")[0] == "streamlit"}


@pytest.mark.parametrize("path", sorted((ROOT / "views").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_view_imports_no_endpoint_module(path):
    endpoint = {n for n in imported(path) if n.split(".")[:1] == ["analysis"] and len(n.split(".")) > 1
                and n.split(".")[1] in ENDPOINT_MODULES}
    assert not endpoint, f"{path.name} imports {sorted(endpoint)}: read the numbers from ctx.results instead"


def test_every_view_script_is_in_views_and_nothing_else_is():
    scripts = {p.stem for p in (ROOT / "views").glob("*.py") if p.name != "__init__.py"}
    assert scripts == {v.name for v in VIEWS}
    assert not (ROOT / "pages").exists()  # the folder name that switches Streamlit into its old multipage mode


BLAS_THREADS = """
import importlib, sys
importlib.import_module(sys.argv[1])
import numpy, scipy.linalg  # both load an OpenBLAS
from threadpoolctl import threadpool_info
print(sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}))
"""


@pytest.mark.parametrize("entry", ["server", "analysis.cohort", "analysis.sandbox"])
def test_the_engine_runs_one_blas_thread_unless_the_operator_says_otherwise(entry):
    """Every entry point imports the engine before numpy, so OpenBLAS starts with one thread (its
    threads only contend on the engine's small matrices); an operator's OPENBLAS_NUM_THREADS wins."""
    import os
    import subprocess
    import sys

    def threads(extra: dict) -> str:
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | extra
        out = subprocess.run([sys.executable, "-c", BLAS_THREADS, entry], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip().splitlines()[-1]

    assert threads({}) == "[1]"
    assert threads({"OPENBLAS_NUM_THREADS": "2"}) == "[2]"
