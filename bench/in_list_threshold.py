"""Where does durable_rules' ``create_ruleset`` stop returning on list conditions?

Run: `.venv/bin/python bench/in_list_threshold.py [--timeout S] [--quick]`. For a grid of k rules
(each of one event type, in one ruleset, as clauseline compiles a rule) each holding a list of n
values on the same path, it builds the ruleset in a child process killed after ``--timeout``
seconds, then asserts one fact that matches no rule, and prints the time the ruleset took, or
``hang``. Four shapes: ``in`` (an ``$or`` of equalities, what a rule's ``in`` compiles to),
``not_in`` (an ``$and`` of inequalities), ``match_any`` (one rule of n alternative groups of two
conditions each: durable_rules refuses 16 of them with its error 113), and ``paths`` (one rule
with k ``in`` lists of n values, each on its own path). The figures and the limit chosen from them are
in docs/rule-format.md, "Limits".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

#: Built in the child: a ruleset of ``k`` rules, each the compiled form of one clauseline rule.
_CHILD = r"""
import json, sys, time
from durable import engine

class Host(engine.Host):
    def _run(self):
        return None
    def get_action(self, name):
        return lambda context: None

shape, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def rule(r):
    head = [{"_each": "-"}, {"type": "payment.made"}]
    if shape == "in":
        test = [{"$or": [{"data.status": f"v{r}-{i}"} for i in range(n)]}]
    elif shape == "not_in":
        test = [{"$and": [{"$neq": {"data.status": f"v{r}-{i}"}} for i in range(n)]}]
    elif shape == "match_any":
        test = [{"$or": [{"$and": [{"data.status": f"v{r}-{i}"}, {"data.amount": i}]} for i in range(n)]}]
    elif shape == "paths":  # k lists of n values, each on its own path, in ONE rule
        return {"$and": head + [{"$or": [{f"data.p{p}": f"v{p}-{i}"} for i in range(n)]}
                                for p in range(k)]}
    return {"$and": head + test}

count = 1 if shape == "paths" else k
body = {f"r{r}": {"all": [{"m": rule(r)}], "run": f"r{r}"} for r in range(count)}
start = time.perf_counter()
host = Host()
try:
    host.set_rulesets({"bench": body})
except Exception as error:  # durable_rules refused it (its error code)
    print(json.dumps(str(error)))
    sys.exit(0)
created = time.perf_counter() - start
# then one fact that matches no rule: with a full table of next nodes this never returns
import durable_rules_engine
durable_rules_engine.assert_fact(host.get_ruleset("bench")._handle, json.dumps(
    {"id": "f", "sid": "0", "_each": "-", "type": "payment.made", "data.status": "none"}))
print(json.dumps(created))
"""


def build(shape: str, k: int, n: int, timeout: float) -> float | str | None:
    """Seconds to create the ruleset (and assert one fact on it), durable_rules' refusal, or
    None when it did not return within ``timeout``."""
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, shape, str(k), str(n)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise SystemExit(f"{shape} k={k} n={n}: the child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


GRID = {
    "in": [(1, 256), (1, 400), (1, 500), (1, 510), (1, 511), (1, 512), (1, 513), (2, 200), (2, 250),
           (2, 255), (2, 256), (3, 170), (4, 100), (4, 127), (4, 128), (5, 100), (6, 80),
           (6, 85), (6, 100), (8, 60), (8, 64), (16, 31), (16, 32), (32, 15), (32, 16),
           (64, 8)],
    "not_in": [(1, 256), (1, 511), (1, 512), (2, 255), (2, 256), (4, 128), (6, 100)],
    "match_any": [(1, 8), (1, 16), (1, 256)],
    "paths": [(2, 16), (2, 32), (2, 64), (3, 16), (2, 128), (3, 32)],
}
QUICK = {"in": [(2, 200), (2, 255), (6, 80), (6, 100)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds after which a ruleset counts as hung (default 10)")
    parser.add_argument("--quick", action="store_true", help="four points only")
    args = parser.parse_args()
    print(f"{'shape':<10} {'k':>3} {'n':>4} {'k*n':>5}  create_ruleset")
    for shape, points in (QUICK if args.quick else GRID).items():
        for k, n in points:
            seconds = build(shape, k, n, args.timeout)
            shown = (f"hang (killed after {args.timeout:.0f} s)" if seconds is None
                     else seconds if isinstance(seconds, str) else f"{seconds:.3f} s")
            print(f"{shape:<10} {k:>3} {n:>4} {k * n:>5}  {shown}", flush=True)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
