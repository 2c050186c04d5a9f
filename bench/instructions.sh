#!/bin/sh
# Instructions (not seconds) of the CLI in one tree, with valgrind's callgrind: they repeat run
# after run, where wall-clock time on the project's machine swings by ±20 %.
#
#   bench/instructions.sh [--compile] [TREE] [LOG]   (default: this tree, examples/demo-log.jsonl)
#
# TREE is a checkout with its own `.venv` (`make install`); to compare two commits, make a
# worktree of the older one (`git worktree add /tmp/before <commit>`, `make install` in it) and
# run the script once per tree. Prints the instruction totals (callgrind_annotate's) of
# `clauseline rules check` (start-up and policy load), of `replay LOG` in memory and of
# `replay LOG --db sqlite:///<fresh file>`, and per event = (replay − rules check) / events;
# for SQLite also per event = (replay − replay of an empty log into a fresh file) / events,
# which leaves out opening the store (imports, schema creation).
# PYTHONHASHSEED is fixed so that string hashes, and with them most set and dict orders, repeat
# (objects hashed by address still move with the address layout: counts repeat to about 0.2 %).
# Bytecode is cached in a private folder (PYTHONPYCACHEPREFIX, even where the environment sets
# PYTHONDONTWRITEBYTECODE) and each command runs once before it is measured, so that no count
# includes compiling Python source; `--compile` counts it (the environment's own setting).
set -eu
COMPILE=no
if [ "${1:-}" = --compile ]; then COMPILE=yes; shift; fi
TREE=$(cd "${1:-$(dirname "$0")/..}" && pwd)
LOG=${2:-examples/demo-log.jsonl}
CLI="$TREE/.venv/bin/clauseline"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PYTHONHASHSEED=0
if [ $COMPILE = no ]; then
    unset PYTHONDONTWRITEBYTECODE
    export PYTHONPYCACHEPREFIX="$WORK/pycache"
fi
cd "$TREE"
EVENTS=$(grep -c . "$LOG")
"$CLI" rules check >/dev/null
"$CLI" replay "$LOG" --out /dev/null 2>/dev/null
"$CLI" replay "$LOG" --db "sqlite:///$WORK/warm.db" --out /dev/null 2>/dev/null

total() {  # total instructions of one callgrind output file
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
}
measure() {  # name, then the CLI's arguments
    name=$1; shift
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$name" "$CLI" "$@" \
        >/dev/null 2>"$WORK/err.$name"
    total "$WORK/cg.$name"
}
check=$(measure check rules check)
memory=$(measure memory replay "$LOG" --out /dev/null)
sqlite=$(measure sqlite replay "$LOG" --db "sqlite:///$WORK/fresh.db" --out /dev/null)
: >"$WORK/empty.jsonl"
opened=$(measure opened replay "$WORK/empty.jsonl" --db "sqlite:///$WORK/empty.db" --out /dev/null)
echo "tree: $TREE ($(git -C "$TREE" rev-parse --short HEAD)$(git -C "$TREE" diff --quiet HEAD -- engine rules schemas || echo ', engine/rules changed'))"
echo "log: $LOG ($EVENTS events); bytecode cached: $([ $COMPILE = no ] && echo yes || echo "no (PYTHONDONTWRITEBYTECODE=${PYTHONDONTWRITEBYTECODE:-})")"
awk -v c="$check" -v m="$memory" -v s="$sqlite" -v o="$opened" -v n="$EVENTS" 'BEGIN {
    printf "rules check            %16.0f Ir  (%.1f M)\n", c, c / 1e6
    printf "replay, in memory      %16.0f Ir  per event %.3f M\n", m, (m - c) / n / 1e6
    printf "replay, into SQLite    %16.0f Ir  per event %.3f M\n", s, (s - c) / n / 1e6
    printf "replay of no event into a fresh SQLite file %16.0f Ir (%.1f M over rules check);\n", o, (o - c) / 1e6
    printf "  per event into SQLite without it: %.3f M\n", (s - o) / n / 1e6
}'
