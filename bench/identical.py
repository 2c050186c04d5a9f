"""Byte-identity of decisions: the working tree against a git revision (issue 23's last target).

Run: `.venv/bin/python bench/identical.py [--rev REV] [--inputs demo,scenarios,ccpa,50k]
[--log FILE ...] [--no-sqlite] [--keep DIR]` from anywhere in the repository; `REV` defaults to
HEAD, so with no option it says whether the uncommitted changes move any decision. Prints one
line per input and store, `identical` or `DIFFERS` with the first differing line of each side,
and exits 1 if anything differs (2 if a run failed).

The inputs: the demo log (`examples/demo-log.jsonl`); the scenarios of `tests/scenarios` (every
scenario on a fresh timeline, as the pytest plugin runs them, each decision written as its
canonical JSON); a 50k generated log (`bench/logs.py --events 50000 --subjects 2000 --seed 1`);
and the CCPA cycles of that log (its CCPA events, account openings, clock ticks and the policy
change: requests filed, verified, extended, answered or left to go overdue). Each log is
replayed by `clauseline replay LOG --out FILE` in memory and, unless `--no-sqlite`, into a fresh
SQLite store (`--db`), in a fresh process per run, with the same redaction key on both sides.
The inputs are made once, from the working tree's generator and files: only the engine differs.

The revision is exported with `git archive` into a temporary folder (read-only for the
repository: no worktree to register or prune) and imported in place of the installed package:
the child process puts a finder first on `sys.meta_path` that maps `clauseline` and its
separately rooted packages to that tree's folders, as its own `pyproject.toml` lays them out
(`[tool.setuptools.package-dir]`: engine/ is `clauseline`, service/ `clauseline.service`, ...),
the way the editable install maps the working tree; the working tree runs through the same
finder, so both sides are run the same way. It uses this venv's dependencies for both, which
is right for a recent revision. Each child checks that `clauseline` came from its own tree.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INPUTS = ("demo", "scenarios", "ccpa", "50k")
#: the event types of a CCPA cycle, with what they need around them (the subjects' accounts,
#: the clock that makes answers late or overdue, the policy change the log carries)
CCPA_TYPES = {"ccpa.request.filed", "ccpa.request.verified", "ccpa.request.extended",
              "ccpa.response.prepared", "ccpa.response.delivered", "account.opened",
              "clock.tick", "policy.changed"}
ENV = {**os.environ, "CLAUSELINE_REDACTION_KEY": "identical-key-not-secret"}


def say(text: str) -> None:
    print(f"[identical {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# the child: one tree's clauseline, imported from that tree's folders

class TreeFinder(importlib.abc.MetaPathFinder):
    """Finds `clauseline` and its separately rooted packages in one source tree's folders."""

    def __init__(self, tree: Path):
        layout = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
        folders = layout["tool"]["setuptools"]["package-dir"]
        self.folders = {name: (tree / folder).resolve() for name, folder in folders.items()}

    def find_spec(self, fullname, path=None, target=None):
        folder = self.folders.get(fullname)
        if folder is None:
            return None  # a subpackage is found on its parent's __path__, in the same tree
        init = folder / "__init__.py"
        if init.exists():
            return importlib.util.spec_from_file_location(
                fullname, init, submodule_search_locations=[str(folder)])
        spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        return spec


def child(tree: Path, kind: str, args: list[str]) -> int:
    sys.meta_path.insert(0, TreeFinder(tree))
    import clauseline
    if not Path(clauseline.__file__).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"clauseline came from {clauseline.__file__}, not from {tree}")
    if kind == "replay":
        from clauseline._entry import main
        return main(["replay", *args])
    if kind == "scenarios":
        return scenarios(Path(args[0]), [Path(a) for a in args[1:]])
    raise SystemExit(f"unknown child {kind}")


def scenarios(out: Path, files: list[Path]) -> int:
    """Every scenario of ``files`` on a fresh timeline, as the pytest plugin runs it (its
    expectations are not judged here); each decision as canonical JSON, under a header line."""
    from clauseline.testing.scenarios import load_scenarios

    with out.open("w", encoding="utf-8", newline="\n") as text:
        for path in files:
            shown = path.relative_to(ROOT).as_posix()
            try:
                found = load_scenarios(path, shown)
            except Exception as error:  # noqa: BLE001 - written, so that it shows as a difference
                text.write(f"# {shown}: not loaded: {type(error).__name__}: {error}\n")
                continue
            for scenario in found:
                text.write(f"# {shown}:{scenario.line} {scenario.name}\n")
                timeline = scenario.timeline()
                try:
                    scenario.run(timeline)
                except Exception as error:  # noqa: BLE001 - as above
                    text.write(f"! {type(error).__name__}: {error}\n")
                text.writelines(decision.to_json() + "\n" for decision in timeline.decisions)
    return 0


# --------------------------------------------------------------------------------------------
# the parent: inputs, the two trees, the comparison

def export(rev: str, folder: Path) -> str:
    """The revision's files in ``folder`` (`git archive`); its full commit id."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.strip()
    archive = subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=ROOT,
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit(f"git archive {commit} failed")
    return commit


def make_inputs(chosen: list[str], extra: list[str], folder: Path) -> dict[str, Path]:
    """The logs to replay, by name (the scenarios are not a log: handled apart)."""
    sys.path.insert(0, str(HERE))
    import logs  # bench/logs.py

    out: dict[str, Path] = {}
    if "demo" in chosen:
        out["demo"] = ROOT / "examples" / "demo-log.jsonl"
    if "50k" in chosen or "ccpa" in chosen:
        big = folder / "l50k.jsonl"
        logs.make_log(big, 50000, 2000, 1)
        if "ccpa" in chosen:
            out["ccpa"] = folder / "ccpa.jsonl"
            with big.open(encoding="utf-8") as lines, out["ccpa"].open("w", encoding="utf-8",
                                                                        newline="\n") as cycle:
                cycle.writelines(line for line in lines
                                 if json.loads(line)["type"] in CCPA_TYPES)
        if "50k" in chosen:
            out["50k"] = big
    for path in extra:
        out[Path(path).stem] = Path(path).resolve()
    return out


def run_side(tree: Path, kind: str, args: list[str], errors: Path) -> int:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree), kind, *args]
    with errors.open("w") as stderr:
        return subprocess.run(command, env=ENV, stdout=subprocess.DEVNULL, stderr=stderr).returncode


def first_difference(a: Path, b: Path) -> str:
    with a.open("rb") as left, b.open("rb") as right:
        for number, (x, y) in enumerate(zip(left, right), start=1):
            if x != y:
                return (f"line {number}:\n      working tree: {x[:300]!r}\n      revision:     "
                        f"{y[:300]!r}")
    sizes = (sum(1 for _ in a.open("rb")), sum(1 for _ in b.open("rb")))
    return f"one is a prefix of the other ({sizes[0]:,} lines in the working tree's, " \
           f"{sizes[1]:,} in the revision's)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(Path(argv[1]), argv[2], argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the git revision to compare with "
                        "(default HEAD: what the uncommitted changes move)")
    parser.add_argument("--inputs", default=",".join(INPUTS),
                        help=f"which of {', '.join(INPUTS)} (default all)")
    parser.add_argument("--log", action="append", default=[],
                        help="another JSON Lines log to replay (may be repeated)")
    parser.add_argument("--no-sqlite", action="store_true",
                        help="replay in memory only, not also into a SQLite store")
    parser.add_argument("--keep", help="write the inputs and outputs into this folder, and keep "
                        "them")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.inputs.split(",") if name.strip()]
    if set(chosen) - set(INPUTS):
        parser.error(f"--inputs: unknown {', '.join(sorted(set(chosen) - set(INPUTS)))}")

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="clauseline-identical-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        revision = work / "revision"
        shutil.rmtree(revision, ignore_errors=True)
        revision.mkdir()
        commit = export(args.rev, revision)
        say(f"revision {args.rev} = {commit[:12]}, exported to {revision}")
        logs = make_inputs(chosen, args.log, work)
        sides = {"working tree": ROOT, "revision": revision}
        runs = []  # (label, {side: (code, output, errors)})
        for name, log in logs.items():
            stores = ["memory"] + ([] if args.no_sqlite else ["sqlite"])
            for store in stores:
                label = f"{store} {name}"
                say(f"{label}: {log}")
                results = {}
                for side, tree in sides.items():
                    tag = "tree" if tree == ROOT else "rev"
                    out = work / f"{name}.{store}.{tag}.out"
                    extra = []
                    if store == "sqlite":
                        db = work / f"{name}.{tag}.db"
                        for suffix in ("", "-wal", "-shm", ".key"):
                            Path(f"{db}{suffix}").unlink(missing_ok=True)
                        extra = ["--db", f"sqlite:///{db}"]
                    errors = out.with_suffix(".err")
                    code = run_side(tree, "replay", [str(log), "--quiet", "--out", str(out),
                                                     *extra], errors)
                    results[side] = (code, out, errors)
                runs.append((label, results))
        if "scenarios" in chosen:
            files = sorted(p for p in (ROOT / "tests" / "scenarios").rglob("*")
                           if p.suffix in (".yaml", ".yml"))
            say(f"scenarios: {len(files)} files of tests/scenarios")
            results = {}
            for side, tree in sides.items():
                tag = "tree" if tree == ROOT else "rev"
                out = work / f"scenarios.{tag}.out"
                errors = out.with_suffix(".err")
                code = run_side(tree, "scenarios", [str(out), *map(str, files)], errors)
                results[side] = (code, out, errors)
            runs.append(("scenarios", results))

        print(f"decisions of the working tree against {args.rev} ({commit[:12]}):")
        worst = 0
        for label, results in runs:
            (code_a, out_a, err_a), (code_b, out_b, err_b) = results.values()
            if not out_a.exists() or not out_b.exists():
                worst = 2
                failed = err_a if not out_a.exists() else err_b
                print(f"{label}: FAILED (exit {code_a} / {code_b}): "
                      f"{failed.read_text()[-600:]}")
                continue
            count = sum(1 for line in out_a.open("rb") if not line.startswith(b"#"))
            if out_a.read_bytes() == out_b.read_bytes() and code_a == code_b:
                print(f"{label}: identical ({count:,} lines, exit {code_a})")
            else:
                worst = max(worst, 1)
                why = first_difference(out_a, out_b) if out_a.read_bytes() != out_b.read_bytes() \
                    else f"exit {code_a} against {code_b}"
                print(f"{label}: DIFFERS, {why}")
        return worst
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
