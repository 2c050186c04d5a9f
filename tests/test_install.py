"""The pinned durable-rules builds from source with gcc in a fresh virtual environment, and its
C engine matches a declarative rule (the whole-package install is tests/test_wheel_install.py)."""

import re
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
from durable import engine
fired = []
class Host(engine.Host):
    def _run(self):
        return None
    def get_action(self, name):
        return lambda c: fired.append(name)
host = Host()
host.set_rulesets({"probe": {"r": {"all": [{"m": {"data.status": "completed"}}], "run": "r"}}})
host.assert_fact("probe", {"id": "1", "sid": "0", "data": {"status": "completed"}})
print(fired)
"""


def pinned_durable_rules() -> str:
    """The durable-rules pin of constraints.txt (what make and CI install)."""
    text = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    return re.search(r"^(durable-rules==[0-9.]+)$", text, re.M).group(1)


@pytest.mark.slow  # gcc builds durable_rules, about 14 s: make test-slow (and .ci/run)
def test_pinned_durable_rules_builds_from_source_and_matches(tmp_path):
    requirement = pinned_durable_rules()
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir",
         "--no-binary", "durable-rules", requirement],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "['r']"
