"""clauseline as a user meets it: the wheel, installed without extras into a fresh virtual
environment next to a neighbour's SQLAlchemy, then imported, tested with and run from there.

The acceptance test of the outside review: installing clauseline must not take import names a
user's project has (``engine``, ``service``, ``rules``, ``schemas``), must resolve from the ranges
pyproject.toml declares (not from constraints.txt), must not need the PostgreSQL driver unless
the PostgreSQL store is used, and must say what to install when it is. It also checks what the
other tests cannot: that the wheel ships the plugin's entry point, the rules and the schemas, so
that a project outside this repository gets the fixtures, the scenario collection and the
coverage report by installing clauseline alone (``examples/integrator``).

One wheel and one virtual environment (a module-scoped fixture) serve every test here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.version import Version

#: The whole module builds a wheel and installs it into fresh virtual environments (about a
#: minute of CPU): make test-slow (and .ci/run).
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: The repository's own environment (make install): it builds the wheel and is the reference
#: the installed wheel's decisions are compared with.
REPO_BIN = REPO / ".venv" / "bin"
DEMO_LOG = REPO / "examples" / "demo-log.jsonl"
#: What the wheel is built from.
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "engine", "service", "rules", "schemas"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
#: A neighbour's SQLAlchemy: older than constraints.txt's pin, inside pyproject's range.
NEIGHBOUR_SQLALCHEMY = "sqlalchemy<2.1"
#: Variables of the running test session that must not leak into the fresh environment.
LEAKY = ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
         "VIRTUAL_ENV")
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@dataclass
class Installed:
    wheel: Path  # the built wheel
    home: Path  # the virtual environment it is installed in
    work: Path  # a scratch folder of this module
    env: dict  # the environment of every subprocess

    @property
    def python(self) -> Path:
        return self.home / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.home / "bin" / name

    def run(self, args: list, cwd: Path | None = None, *, expect: int = 0,
            timeout: int = 300) -> subprocess.CompletedProcess:
        return run(args, cwd or self.work, self.env, expect=expect, timeout=timeout)


def run(args: list, cwd: Path, env: dict, *, expect: int = 0,
        timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == expect, (
        f"{args} exited {done.returncode}, expected {expect}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """Build the wheel from a copy of the sources and install it, without extras and without
    constraints.txt, with a neighbour's SQLAlchemy and this run's pytest, into a fresh venv."""
    work = tmp_path_factory.mktemp("wheel-install")
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}

    # a copy of the sources keeps the build's by-products (build/, *.egg-info) out of the repo
    source = work / "clauseline-src"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=IGNORE)
        else:
            shutil.copy2(path, source / name)
    dist = work / "dist"
    builder = REPO_BIN / "python" if (REPO_BIN / "python").exists() else Path(sys.executable)
    run([builder, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, source], work, env,
        timeout=900)
    (wheel,) = dist.glob("clauseline-*.whl")

    home = work / "venv"
    venv.EnvBuilder(with_pip=True).create(home)
    run([home / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, NEIGHBOUR_SQLALCHEMY,
         f"pytest=={pytest.__version__}"], work, env, timeout=900)
    return Installed(wheel=wheel, home=home, work=work, env=env)


# --- a. one import name --------------------------------------------------------------------

def test_the_wheel_installs_one_top_level_name_with_the_rules_and_schemas_inside(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        (info,) = {n.split("/")[0] for n in names if re.match(r"clauseline-[^/]+\.dist-info/", n)}
        top_level = wheel.read(f"{info}/top_level.txt").decode().split()
        record = [line.split(",")[0] for line in
                  wheel.read(f"{info}/RECORD").decode().splitlines() if line]

    assert top_level == ["clauseline"]
    roots = {path.split("/")[0] for path in record}
    assert roots == {"clauseline", info}, roots
    taken = {"engine", "service", "rules", "schemas", "clauseline_rules", "clauseline_schemas"}
    assert not roots & taken, roots & taken
    assert sorted(record) == sorted(n for n in names if not n.endswith("/"))

    # every rule file and every schema of the source tree, inside the package
    rules = {f"clauseline/rules/{p.relative_to(REPO / 'rules').as_posix()}"
             for p in (REPO / "rules").rglob("*.yaml")}
    schemas = {f"clauseline/schemas/{p.relative_to(REPO / 'schemas').as_posix()}"
               for p in (REPO / "schemas").rglob("*.json")}
    assert "clauseline/rules/securus-2019-05-04/clauses/G.yaml" in rules
    assert "clauseline/schemas/events/disclosure.requested.schema.json" in schemas
    assert rules <= set(record), sorted(rules - set(record))
    assert schemas <= set(record), sorted(schemas - set(record))
    assert "clauseline/store/migrations/script.py.mako" in record


def test_the_wheel_declares_ranges_and_the_postgres_driver_as_an_extra(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip() for line in
                    wheel.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
        entry_points = wheel.read(metadata.replace("METADATA", "entry_points.txt")).decode()

    pinned = [r for r in requires if "==" in r.split(";")[0]]  # a marker's `extra == ` is no pin
    assert requires and not pinned, pinned
    assert [r for r in requires if r.lower().startswith("sqlalchemy")] == ["SQLAlchemy>=2.0"]
    assert [r for r in requires if "psycopg" in r] == ['psycopg[binary]>=3.1; extra == "postgres"']
    assert re.search(r"^\[pytest11\]\nclauseline = clauseline\.testing\.plugin$",
                     entry_points, re.M), entry_points
    assert re.search(r"^\[console_scripts\]\nclauseline = clauseline\._entry:main$",
                     entry_points, re.M), entry_points


# --- b. a user's project with its own engine and service packages ---------------------------

USER_PROJECT = {
    "pyproject.toml": """\
        [project]
        name = "acme-gateway"
        version = "1.0"
        dependencies = ["clauseline"]

        [tool.pytest.ini_options]
        testpaths = ["tests"]
        """,
    "engine/__init__.py": """\
        \"\"\"Our own engine, which has nothing to do with clauseline.\"\"\"


        def load_policy():
            return "mine"
        """,
    "service/__init__.py": """\
        def handle():
            return "our service"
        """,
    "conftest.py": """\
        import pytest

        from engine import load_policy
        from service import handle


        @pytest.fixture
        def our_policy():
            return load_policy(), handle()
        """,
    "tests/test_gateway.py": """\
        import importlib
        from pathlib import Path

        import pytest

        import engine
        import service
        from engine import load_policy
        from clauseline.testing import assert_permits

        ROOT = Path(__file__).resolve().parents[1]


        def test_our_engine_and_service_are_ours(our_policy):
            print(f"our engine: {engine.__file__}")
            assert load_policy() == "mine"
            assert our_policy == ("mine", "our service")
            assert Path(engine.__file__).resolve() == ROOT / "engine" / "__init__.py"
            assert Path(service.__file__).resolve() == ROOT / "service" / "__init__.py"
            installed = Path(importlib.import_module("clauseline").__file__).resolve()
            print(f"clauseline: {installed}")
            assert "site-packages" in installed.parts and not installed.is_relative_to(ROOT)


        @pytest.mark.clauseline(subject="acct-7")
        def test_the_police_get_the_voice_recording(clauseline):
            decision = clauseline.send("disclosure.requested", {
                "request_id": "req-1",
                "recipient": {"kind": "law_enforcement", "name": "Dallas PD"},
                "purpose": "law_enforcement_activity", "data_categories": ["voice"]})
            assert_permits(decision, ["voice"], "law_enforcement", exact=True)
            assert load_policy() == "mine"
        """,
}


def test_a_project_with_its_own_engine_package_uses_the_plugin_and_keeps_its_engine(installed):
    project = installed.work / "acme-gateway"
    for name, text in USER_PROJECT.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")

    # the console script, as a user types `pytest` in their project
    out = installed.run([installed.bin("pytest"), "-v", "-s", "-p", "no:cacheprovider"],
                        project).stdout
    assert re.search(r"^plugins: .*\bclauseline-", out, re.M), out
    assert f"our engine: {project.resolve() / 'engine' / '__init__.py'}" in out, out
    assert f"clauseline: {installed.home.resolve()}" in out, out
    assert "2 passed" in out, out


# --- c. the integrator example --------------------------------------------------------------

def test_the_integrator_example_passes_with_rule_coverage(installed):
    project = installed.work / "integrator"
    shutil.copytree(REPO / "examples" / "integrator", project, ignore=IGNORE)

    where = installed.run([installed.python, "-c", "import clauseline; print(clauseline.__file__)"],
                          project).stdout.strip()
    assert Path(where).is_relative_to(installed.home), where

    result = installed.run([installed.python, "-m", "pytest", "-v", "-p", "no:cacheprovider",
                            "--clauseline-coverage"], project).stdout
    # the plugin list names clauseline (beside anyio's, which FastAPI brings)
    (plugins,) = [line for line in result.splitlines() if line.startswith("plugins: ")]
    assert "clauseline-" in plugins, plugins
    assert ("tests/scenarios/marketing.yaml::our marketing partner never receives customer data "
            "PASSED") in result
    assert "4 passed" in result
    assert "clauseline rule coverage" in result and "rule coverage:" in result


# --- d. no extras: SQLite and in-memory replay, the neighbour's SQLAlchemy ----------------------

def test_without_extras_there_is_no_psycopg_and_the_neighbours_sqlalchemy_stays(installed):
    missing = installed.run([installed.python, "-c", "import psycopg"], expect=1)
    assert "No module named 'psycopg'" in missing.stderr
    found = installed.run([installed.python, "-c",
                           "from importlib.metadata import version; print(version('SQLAlchemy'))"])
    assert Version("2.0") <= Version(found.stdout.strip()) < Version("2.1"), found.stdout


def test_the_installed_cli_reports_the_version_of_pyproject(installed):
    out = installed.run([installed.bin("clauseline"), "--version"]).stdout
    assert out.strip() == f"clauseline {PROJECT['version']}"
    assert installed.run([installed.python, "-m", "clauseline", "--version"]).stdout == out


def test_replay_from_the_wheel_gives_the_decisions_of_the_source_tree(installed):
    reference = run([REPO_BIN / "clauseline", "replay", "examples/demo-log.jsonl"], REPO,
                    installed.env).stdout
    # a decision per line, and one per deadline timer the demo log fires
    timers = reference.count('"event_source":"urn:clauseline:timer"')
    assert timers >= 1
    assert reference.count("\n") == sum(1 for line in DEMO_LOG.open() if line.strip()) + timers

    in_memory = installed.run([installed.bin("clauseline"), "replay", DEMO_LOG])
    assert in_memory.stdout == reference
    assert "Traceback" not in in_memory.stderr

    db = installed.work / "demo.db"
    stored = installed.run([installed.bin("clauseline"), "replay", DEMO_LOG,
                            "--db", f"sqlite:///{db}"])
    assert stored.stdout == reference
    assert db.is_file() and db.stat().st_size > 0
    due = installed.run([installed.bin("clauseline"), "due", "--db", f"sqlite:///{db}",
                         "--at", "2099-01-01T00:00:00Z"])
    assert "Traceback" not in due.stderr


# --- e. the PostgreSQL store without its extra -------------------------------------------------

def test_a_postgres_store_without_the_extra_says_what_to_install(installed):
    done = installed.run([installed.bin("clauseline"), "replay", DEMO_LOG,
                          "--db", "postgresql://127.0.0.1/test"], expect=1)
    assert "postgres extra" in done.stderr and "pip install 'psycopg[binary]>=3.1'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


# --- f. the HTTP service, from the wheel -------------------------------------------------------

def test_the_installed_service_takes_a_key_and_an_event_and_answers_its_decision(installed):
    import json
    import urllib.request

    from service.server import Server

    db = f"sqlite:///{installed.work / 'service.db'}"
    key = installed.run([installed.bin("clauseline"), "keys", "create", "--db", db,
                         "--name", "ingest", "--scope", "events:write"]).stdout.strip()
    assert key.startswith("clk_")
    refused = installed.run([installed.bin("clauseline"), "serve", "--db", db, "--workers", "2"],
                            expect=2)
    assert "needs PostgreSQL" in refused.stderr and "Traceback" not in refused.stderr

    event = (REPO / "examples" / "disclosure-request.json").read_bytes()
    reference = run([REPO_BIN / "clauseline", "evaluate", REPO / "examples" / "disclosure-request.json"],
                    REPO, installed.env).stdout
    with Server(installed.bin("clauseline"), "--db", db, env=installed.env, cwd=installed.work) as server:
        request = urllib.request.Request(server.url + "/v1/events", data=event, method="POST", headers={
            "content-type": "application/cloudevents+json", "authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            decision = json.loads(response.read())
    assert server.returncode == 0, server.stderr
    expected = json.loads(reference)
    # evaluate without a store warns that it started from an empty state; the service had one
    assert [w["code"] for w in expected.pop("warnings", [])] == ["state.empty"]
    assert decision == expected
    assert "Traceback" not in server.stderr and key not in server.stderr
