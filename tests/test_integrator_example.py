"""examples/integrator, run as an integrator runs it: clauseline installed (not editable) into
a fresh virtual environment, then the example project's own tests with the plugin.

This checks what the other tests cannot: that the distribution ships the plugin's entry point,
the scenario schema, the rules and the schemas, and that a project outside this repository gets
the fixtures, the scenario collection and the coverage report by installing clauseline alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "integrator"
#: What a source distribution of clauseline is built from.
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "constraints.txt", "engine", "rules", "schemas"]


def run(args: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def test_the_integrator_example_passes_in_a_fresh_virtual_environment(tmp_path):
    # a copy of the sources keeps the build's by-products (build/, *.egg-info) out of the repo
    source = tmp_path / "clauseline-src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, source / name)
    if not (source / "README.md").exists():
        (source / "README.md").write_text("clauseline\n", encoding="utf-8")
    project = tmp_path / "integrator"
    shutil.copytree(EXAMPLE, project, ignore=ignore)

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                        "VIRTUAL_ENV")}
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", source, f"pytest=={pytest.__version__}"], tmp_path, env)

    where = run([python, "-c", "import clauseline; print(clauseline.__file__)"], project, env).stdout.strip()
    assert Path(where).is_relative_to(home), where

    result = run([python, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--clauseline-coverage"],
                 project, env).stdout
    assert "plugins: clauseline" in result
    assert "tests/scenarios/marketing.yaml::our marketing partner never receives customer data PASSED" in result
    assert "4 passed" in result
    assert "clauseline rule coverage" in result and "rule coverage:" in result
