"""Every shipped rule is fired by the golden scenario files: a rule added without a scenario
that exercises it fails here, through the plugin's own coverage threshold."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_golden_scenarios_fire_every_rule():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/scenarios",
         "--clauseline-coverage-min=100"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "rules and overrides fired (100.0%)" in result.stdout
