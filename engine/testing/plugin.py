"""The clauseline pytest plugin, registered through the ``pytest11`` entry point: installing
clauseline is enough to get it.

Fixtures:

- ``clauseline``: a fresh :class:`clauseline.testing.Timeline` (engine, state, test clock) on the
  project's policy; ``clauseline.send(type, data, subject=...)``, ``.tick("P46D")``, ``.feed(...)``.
- ``clauseline_policy``: the loaded policy (cached per rules folder for the whole session).
- ``clauseline_clock``: the timeline's :class:`clauseline.testing.Clock`.
- ``clauseline_timeline``: a factory, ``clauseline_timeline(rules=..., version=..., start=...)``.

Which policy: ``@pytest.mark.clauseline(rules=..., version=..., start=..., subject=...,
source=...)`` on a test, else the ``clauseline_rules`` ini option, else the shipped rules.

Scenario files (:mod:`clauseline.testing.scenarios`) are collected from the folders or globs listed in the
``clauseline_scenarios`` ini option, one test per scenario with its name as the test id.

``--clauseline-coverage`` reports the rules and clauses that the decisions made through the
fixtures and scenarios fired; ``--clauseline-coverage-min=PCT`` also fails the run under PCT.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..errors import ClauselineError
from ..events.validation import SchemaSet
from ..policy.model import Policy
from .clock import Clock
from .coverage import RuleCoverage
from .scenarios import Scenario, ScenarioError, load_scenarios
from .timeline import Timeline, cached_policy

_GLOB = set("*?[")


@dataclass
class _RunState:
    """What the plugin keeps for one pytest run."""

    rules: Path | None
    scenario_paths: list[str]
    coverage: RuleCoverage = field(default_factory=RuleCoverage)
    #: The schema set scenario files of this run are checked against (read once per run).
    schemas: SchemaSet | None = None
    report: bool = False
    minimum: float | None = None
    under: bool = False


_STATE = pytest.StashKey[_RunState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clauseline", "clauseline policy tests")
    group.addoption("--clauseline-coverage", action="store_true", default=False,
                    help="report which rules and clauses the tests made fire")
    group.addoption("--clauseline-coverage-min", type=float, default=None, metavar="PCT",
                    help="fail the run when fewer than PCT percent of the rules fired "
                         "(implies --clauseline-coverage)")
    parser.addini("clauseline_scenarios", type="paths", default=[],
                  help="folders or globs (relative to the ini file) to collect clauseline "
                       "scenario files (*.yaml, *.yml) from")
    parser.addini("clauseline_rules", type="string", default="",
                  help="the rules folder tests evaluate against (default: the shipped policy)")


def _relative(config: pytest.Config, value: str | Path) -> Path:
    base = config.inipath.parent if config.inipath else config.rootpath
    return (base / value).resolve()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clauseline(rules=None, version=None, start=None, subject=None, source=None): "
        "the policy, clock start and envelope defaults of the clauseline fixtures for this test")
    rules = config.getini("clauseline_rules")
    minimum = config.getoption("clauseline_coverage_min")
    config.stash[_STATE] = _RunState(
        rules=_relative(config, rules) if rules else None,
        scenario_paths=[str(p if _GLOB & set(str(p)) else p.resolve()) for p in config.getini("clauseline_scenarios")],
        report=bool(config.getoption("clauseline_coverage") or minimum is not None),
        minimum=minimum)


def _state(config: pytest.Config) -> _RunState:
    return config.stash[_STATE]


# ---------------------------------------------------------------------------- fixtures

def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("clauseline")
    options = dict(marker.kwargs) if marker else {}
    if options.get("rules") is not None:
        options["rules"] = (request.config.rootpath / options["rules"]).resolve()
    return options


@pytest.fixture
def clauseline_policy(request: pytest.FixtureRequest) -> Policy:
    """The policy this test evaluates against: loaded once per rules folder and session."""
    options = _options(request)
    return cached_policy(options.get("rules") or _state(request.config).rules, options.get("version"))


@pytest.fixture
def clauseline_clock(request: pytest.FixtureRequest, clauseline_policy: Policy) -> Clock:
    """The test clock: starts at the marker's ``start`` or when the latest policy version
    takes effect; ``advance("P3D")`` moves it."""
    options = _options(request)
    start = options.get("start") or clauseline_policy.latest.effective_from
    return Clock(start, **({"source": options["source"]} if options.get("source") else {}))


@pytest.fixture
def clauseline(request: pytest.FixtureRequest, clauseline_policy: Policy,
               clauseline_clock: Clock) -> Timeline:
    """A fresh engine with an empty state: feed it events, tick its clock, assert on decisions."""
    return Timeline(clauseline_policy, clauseline_clock, subject=_options(request).get("subject"),
                    observer=_state(request.config).coverage.record)


@pytest.fixture
def clauseline_timeline(request: pytest.FixtureRequest):
    """A factory of fresh timelines: ``clauseline_timeline(rules=None, version=None,
    start=None, subject=None, source=None)``; ``rules`` is relative to the rootdir."""
    state = _state(request.config)

    def make(rules: str | Path | None = None, version: str | None = None, **options: Any) -> Timeline:
        root = (request.config.rootpath / rules).resolve() if rules is not None else state.rules
        return Timeline.for_rules(root, version, observer=state.coverage.record, **options)

    return make


# ---------------------------------------------------------------------------- scenarios

def _is_scenario(path: Path, patterns: list[str]) -> bool:
    if path.suffix not in (".yaml", ".yml"):
        return False
    text = str(path)
    for pattern in patterns:
        if _GLOB & set(pattern):
            if fnmatch.fnmatch(text, pattern):
                return True
        elif path.is_relative_to(pattern):
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    state = parent.config.stash.get(_STATE, None)
    if state and state.scenario_paths and _is_scenario(file_path.resolve(), state.scenario_paths):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailure(Exception):
    """A scenario's unmet expectations (shown without a Python traceback)."""

    def __init__(self, failures: list[str]):
        super().__init__("\n\n".join(failures))
        self.failures = failures


class ScenarioFile(pytest.File):
    """A YAML scenario file: one test per scenario."""

    def collect(self):
        try:
            shown = str(self.path.relative_to(self.config.rootpath))
        except ValueError:
            shown = str(self.path)
        state = _state(self.config)
        if state.schemas is None:
            state.schemas = SchemaSet()
        for scenario in load_scenarios(self.path, shown, state.schemas):
            yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioError):
            return "invalid scenario file:\n" + str(excinfo.value)
        return super().repr_failure(excinfo, style)


class ScenarioItem(pytest.Item):
    """One scenario: its events evaluated in order, each decision checked."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any):
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        state = _state(self.config)
        timeline = self.scenario.timeline(state.rules, observer=state.coverage.record)
        failures = self.scenario.run(timeline)
        if failures:
            raise ScenarioFailure(failures)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (ScenarioFailure, ClauselineError)):
            return f"scenario {self.scenario.name!r} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.scenario.line - 1, f"scenario: {self.scenario.name}"


# ---------------------------------------------------------------------------- coverage

@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    result = yield
    state = session.config.stash.get(_STATE, None)
    if state and state.report:
        if not state.coverage.policies:
            state.coverage.add_policy(cached_policy(state.rules))
        if state.minimum is not None and state.coverage.percent < state.minimum:
            state.under = True
            session.testsfailed += 1
    return result


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if not state or not state.report or not state.coverage.policies:
        return
    terminalreporter.section("clauseline rule coverage")
    for line in state.coverage.report():
        terminalreporter.write_line(line)
    if state.under:
        terminalreporter.write_line(
            f"FAIL: rule coverage {state.coverage.percent:.1f}% is under the required "
            f"{state.minimum:g}% (--clauseline-coverage-min)", red=True, bold=True)
