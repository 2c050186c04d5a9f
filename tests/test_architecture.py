"""The pipeline's import direction, checked as a maintainer's CI would: import-linter with the
contracts in .importlinter (stages import only the stages before them; the core imports no
adapter, database, web or test library), on the package laid out as the wheel installs it
(engine/ as clauseline, service/ as clauseline.service), and on a copy with one upward import.

The editable install maps service/ into clauseline with an import hook that grimp (which
import-linter uses) does not follow: it walks the folder of ``clauseline`` only. So the lint runs
on a composed copy that shadows the installed package, as the wheel would lay it out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def composed(root: Path) -> Path:
    """clauseline as the wheel lays it out, under ``root`` (for PYTHONPATH)."""
    package = root / "clauseline"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "engine", package, ignore=ignore)
    for folder in ("service", "rules", "schemas"):
        shutil.copytree(REPO / folder, package / folder, ignore=ignore)
    return package


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(REPO / ".importlinter"), "--no-cache"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_every_stage_imports_only_the_stages_before_it(tmp_path):
    composed(tmp_path)
    result = lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_the_lint_sees_the_service(tmp_path):
    # the HTTP service sits above the store: a store module importing it is an upward import
    package = composed(tmp_path)
    sql = package / "store" / "sql.py"
    sql.write_text(sql.read_text(encoding="utf-8") + "\nfrom ..service import keys  # noqa\n",
                   encoding="utf-8")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "clauseline.store.sql -> clauseline.service.keys" in result.stdout


def test_an_upward_import_is_reported_with_the_modules_that_make_it(tmp_path):
    # The evaluator importing the store.
    package = composed(tmp_path)
    facts = package / "evaluation" / "facts.py"
    facts.write_text(facts.read_text(encoding="utf-8") + "\nfrom ..store import open_store  # noqa\n",
                     encoding="utf-8")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert "clauseline.evaluation.facts -> clauseline.store" in result.stdout
