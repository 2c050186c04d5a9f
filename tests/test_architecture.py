"""The pipeline's import direction, checked as a maintainer's CI would: import-linter with the
contracts in .importlinter (stages import only the stages before them; the core imports no
adapter, database or test library), on the real package and on a copy with one upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(REPO / ".importlinter"), "--no-cache"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_every_stage_imports_only_the_stages_before_it():
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_an_upward_import_is_reported_with_the_modules_that_make_it(tmp_path):
    # A copy of the package that shadows the installed one, with the evaluator importing the store.
    package = tmp_path / "clauseline"
    shutil.copytree(REPO / "engine", package, ignore=shutil.ignore_patterns("__pycache__"))
    facts = package / "evaluation" / "facts.py"
    facts.write_text(facts.read_text(encoding="utf-8") + "\nfrom ..store import open_store  # noqa\n",
                     encoding="utf-8")
    result = lint({"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert "clauseline.evaluation.facts -> clauseline.store" in result.stdout
