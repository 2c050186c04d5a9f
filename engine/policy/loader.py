"""Strict loading of a policy: its index, its source text and its rule files.

Each problem names the file, the line and the key: unknown keys, missing fields, duplicate keys,
a clause letter the policy does not have, a rule id outside its clause, a quote that is not in
the clause's text, a condition or template the compiler cannot use. Every problem in every file
is reported at once; nothing half-loaded is returned.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import stat
from pathlib import Path

from ..errors import PolicyLoadError, Problem
from ..events.validation import BASE, SchemaSet
from ..eventtime import parse_time
from ..resources import rules_dir
from .model import (COMPUTED_OPS, DERIVED_OPS, Clause, Condition, Derivation, Facility, Interpretation,
                    Override, Policy, PolicyVersion, ProfileChange, Rule)
from .reading import (MAX_TEXT_BYTES, dotted_key, leaves, line_of, native, plain, read_bytes,
                      read_checked, read_text, real_folders)
from .templates import parse_placeholder, placeholders, split_path

RULE_FILE = BASE + "rule-file.schema.json"
POLICY_INDEX = BASE + "policy-index.schema.json"
INTERPRETATIONS = BASE + "interpretations.schema.json"
FACILITIES = BASE + "facilities.schema.json"

#: Roots a condition or template path may start with (see docs/rule-format.md).
FACT_ROOTS = {"id", "source", "type", "subject", "time", "data", "item", "profile", "memory",
              "facility", "policy"}
#: What the engine itself provides under ``memory`` (see docs/rule-format.md): rules read these
#: but never write them. ``request`` and each ``obligations.<ref>`` hold OBLIGATION_FIELDS.
ENGINE_MEMORY = ("open_obligations", "overdue_obligations", "request", "obligations",
                 "first_seen_at", "global")
OBLIGATION_FIELDS = ("obligation", "ref", "status", "due_by", "opened_at", "extended_at",
                     "missed_at")
#: Record keys a ``remember`` may not write: the profile and the obligations are the engine's.
ENGINE_WRITTEN = ("profile", "obligations")
#: The parts of policy.yaml that give the profile and the facilities their meaning (derived
#: fields, profile changes per event type, what a facility that lists nothing exempts): an
#: amendment that does not restate one takes its base's.
MEANING_KEYS = ("derived", "profile_changes", "facility_defaults")
#: Where the outcome schema keeps the clause letter and rule id patterns every rule must meet.
OUTCOME = BASE + "outcome.schema.json"
DECISION = BASE + "decision.schema.json"
#: Emit fields whose constants are checked against the outcome schema at load.
EMIT_CONSTANTS = ("recipient", "purpose", "data_categories", "notice", "channel", "obligation",
                  "violation", "target")
_SET_REF = re.compile(r"\{sets\.([a-z_][a-z0-9_]*)\}")
_OUTSIDE = "a symbolic link leading outside the rules folder: it is not followed"


def _normal(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip()


def _heading(line: str) -> tuple[int, str] | None:
    """A Markdown heading line (``### text``) as (level, text), or None."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or line[level:level + 1] not in (" ", "\t"):
        return None
    return level, line[level:].strip()


def clause_headings(text: str) -> list[tuple[str, str, str, int]]:
    """(letter, title, body, line) of every clause of the policy's Markdown source, in order.

    A clause starts at a heading of level 2 to 6 whose text is a capital letter, a parenthesis
    and a title (``###### A) What information do we collect?``); its body runs to the next
    clause heading or to a heading of level 1 to 5 that is not one (a PART heading). One pass
    over the lines, no backtracking: the time is linear in the text, whatever its lines hold.
    """
    out: list[tuple[str, str, str, int]] = []
    current: tuple[str, str, int] | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            out.append((current[0], current[1], "\n".join(body).strip(), current[2]))

    for number, line in enumerate(text.split("\n"), 1):
        heading = _heading(line)
        if heading is None:
            if current is not None:
                body.append(line)
            continue
        level, title = heading
        if level >= 2 and "A" <= title[:1] <= "Z" and title[1:2] == ")" and title[2:].strip():
            close()
            current, body = (title[0], title[2:].strip(), number), []
        elif level <= 5:
            close()
            current, body = None, []
        elif current is not None:
            body.append(line)
    close()
    return out


def parse_clauses(text: str) -> dict[str, tuple[str, str]]:
    """Clause letter -> (heading title, body text) from the policy's Markdown source (the first
    heading of a letter, where :func:`clause_headings` finds it twice)."""
    out: dict[str, tuple[str, str]] = {}
    for letter, title, body, _ in clause_headings(text):
        out.setdefault(letter, (title, body))
    return out


def _tests(test) -> list[tuple[str, object]]:
    """The (operator, value) pairs of one path's test: a scalar is equality; a mapping may hold
    several operators, all of which must hold (``{gte: 13, lt: 18}``)."""
    return list(test.items()) if isinstance(test, dict) else [("eq", test)]


#: The most values an ``in`` or ``not_in`` list may have: durable_rules keeps at most 511 tests
#: below one node of its network and never returns past that (a 512-value ``in`` hangs).
MAX_LIST_VALUES = 256


def _constant_problem(op: str, value) -> str | None:
    """Why durable_rules could not take a condition's constant (None when it can): a list of
    more than :data:`MAX_LIST_VALUES` values, a number that is not finite (``.inf``, ``.nan``,
    ``1e400``), an integer past 64 bits, or a number JSON would write with an exponent
    (``1e-07``, ``1e+16``: its parser refuses the ruleset)."""
    if op in ("in", "not_in") and isinstance(value, list) and len(value) > MAX_LIST_VALUES:
        return (f"{len(value)} values; at most {MAX_LIST_VALUES} (durable_rules hangs on a "
                "long list)")
    for one in value if isinstance(value, list) else [value]:
        if isinstance(one, float) and not math.isfinite(one):
            return (f"{one!r} is not a finite number (.inf, -.inf, .nan, or a number past a "
                    "64-bit float such as 1e400): no event value can be compared with it")
        if isinstance(one, int) and not isinstance(one, bool) and not -2**63 <= one < 2**63:
            return ("an integer outside the 64-bit range, which durable_rules cannot hold (it "
                    "reads integers as 64-bit)")
        if isinstance(one, float) and "e" in repr(one).lower():
            return (f"{one!r} is written with an exponent, which durable_rules refuses: keep "
                    "numbers between 0.0001 and 1e16, or whole")
    return None


def _conditions(raw: dict, keys) -> tuple[Condition, ...]:
    out = []
    for path, test in raw.items():
        for op, value in _tests(test):
            condition = Condition(path, op, plain(value))
            if condition.computed:
                condition = Condition(path, op, condition.value, f"k{next(keys)}")
            out.append(condition)
    return tuple(out)


def _covered(used: list[str], declared: dict[str, str]) -> bool:
    """Whether a memory path (``*`` for a segment computed per fact) is declared: some declared
    path agrees with it segment by segment as far as both go (``*`` agrees with anything)."""
    for pattern in declared:
        parts = pattern.split(".")
        if all(a == b or "*" in (a, b) for a, b in zip(parts, used)):
            return True
    return False


def memory_problem(path: str, declared: dict[str, str]) -> str | None:
    """Why a path under ``memory.`` is not one a rule may read (None when it is)."""
    parts = path.split(".")
    if parts[0] == "global" and len(parts) > 1:
        parts = parts[1:]
    elif parts[0] in ("request", "obligations"):
        rest = parts[1:] if parts[0] == "request" else parts[2:]
        if rest and rest[0] not in OBLIGATION_FIELDS:
            return (f"an obligation has no field {rest[0]!r} (it has "
                    f"{', '.join(OBLIGATION_FIELDS)})")
        return None
    elif parts[0] in ENGINE_MEMORY:
        return None
    if _covered(parts, declared):
        return None
    return (f"memory path {path!r} is not declared in policy.yaml `memory` (declared: "
            f"{', '.join(sorted(declared)) or 'none'}; the engine provides "
            f"{', '.join(ENGINE_MEMORY)})")


def resolve_sets(node, sets: dict[str, tuple], unknown: list[str]):
    """``{sets.NAME}`` replaced by the named set: a string that is exactly one becomes the
    list (flattened into an enclosing list), one inside longer text becomes the names joined
    with commas. Names not in ``sets`` are appended to ``unknown`` and left as they are."""
    if isinstance(node, dict):
        return {k: resolve_sets(v, sets, unknown) for k, v in node.items()}
    if isinstance(node, list):
        out = []
        for item in node:
            value = resolve_sets(item, sets, unknown)
            if isinstance(item, str) and isinstance(value, list):
                out.extend(value)
            else:
                out.append(value)
        return out
    if not isinstance(node, str) or "{sets." not in node:
        return node
    for name in _SET_REF.findall(node):
        if name not in sets:
            unknown.append(name)
    whole = _SET_REF.fullmatch(node)
    if whole and whole.group(1) in sets:
        return list(sets[whole.group(1)])
    return _SET_REF.sub(lambda m: ", ".join(map(str, sets[m.group(1)])) if m.group(1) in sets
                        else m.group(0), node)


def _templates_of(condition_value) -> list:
    """The templates inside a computed condition's right side."""
    if isinstance(condition_value, dict):
        return [condition_value["since"]] if "since" in condition_value else list(condition_value.values())
    return [condition_value]


class _VersionLoader:
    """Loads one version folder; collects problems instead of stopping at the first."""

    def __init__(self, folder: Path, schemas: SchemaSet, base: Path, rules: Path):
        self.folder, self.schemas, self.base, self.rules = folder, schemas, base, rules
        self.problems: list[Problem] = []
        self.keys = itertools.count(1)
        #: the folders this version is read from: an amendment's base, then the amendment
        self.folders = [folder]
        #: where its files may lie, every symbolic link followed: the rules folder (and an
        #: amendment's base, beside a version folder loaded on its own); nothing else is read
        self.inside = real_folders([rules])

    def display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.base))
        except ValueError:
            return str(path)

    def load(self) -> PolicyVersion | None:
        index_path = self.folder / "policy.yaml"
        shown = self.display(index_path)
        index, problems = read_checked(index_path, shown, self.schemas, POLICY_INDEX, self.inside)
        self.problems += problems
        if index is None:
            return None
        retired: set[str] = set()
        # where each part of the index comes from (document, file shown in errors, folder): an
        # amendment takes from its base what it does not restate
        parts = {key: (index, shown, self.folder) for key in ("source", "clauses", "contact",
                                                              "sets", "memory") + MEANING_KEYS}
        if "amends" in index:
            base = self._base(index, shown)
            if base is None:
                return None
            base_folder, base_index, base_shown = base
            self.folders = [base_folder, self.folder]
            self.inside = real_folders([self.rules, base_folder])
            for key in parts:
                if key not in index:
                    parts[key] = (base_index, base_shown, base_folder)
            retired = set(index.get("retire") or ())
        for folder in self.folders:
            self._links_leaving(folder)
        source = self._source(*parts["source"])
        if source is None:
            return None
        doc, where, _ = parts["clauses"]
        clauses = self._clauses(doc, source, where)
        interpretations = self._interpretations(clauses)
        doc, where, _ = parts["sets"]
        self.sets = self._sets(doc, where)
        doc, where, _ = parts["memory"]
        self.memory = {str(k): plain(v).strip() if isinstance(v, str) else ""
                       for k, v in (doc.get("memory") or {}).items()}
        for name in self.memory:
            if name.split(".")[0] in ENGINE_MEMORY + ENGINE_WRITTEN or name.startswith("_"):
                self.problems.append(Problem(
                    "engine_owned_memory", f"memory path {name!r} is the engine's own (it "
                    f"provides {', '.join(ENGINE_MEMORY)} and writes {', '.join(ENGINE_WRITTEN)})",
                    file=where, line=line_of(doc, ["memory"], name), key=f"memory.{name}"))
        meaning = self._meaning(parts)
        rules, overrides = self._rules(clauses, interpretations)
        known = {r.id for r in rules} | {o.id for o in overrides}
        for name in sorted(retired - known):
            self.problems.append(Problem("unknown_rule", f"retire names {name!r}, which is not a "
                                         "rule or override of the base version", file=shown,
                                         line=line_of(index, [], "retire"), key="retire"))
        rules = [r for r in rules if r.id not in retired]
        overrides = [o for o in overrides if o.id not in retired]
        if self.problems:
            return None
        return PolicyVersion(
            version=str(index["version"]), title=str(index["title"]),
            effective_from=parse_time(str(index["effective_from"])), clauses=clauses,
            rules=tuple(sorted(rules, key=lambda r: r.sort_key)),
            contact={str(k): str(v) for k, v in (parts["contact"][0].get("contact") or {}).items()},
            interpretations=interpretations, folder=str(self.folder),
            folders=tuple(str(f) for f in self.folders), fixture=bool(index.get("fixture")),
            overrides=tuple(sorted(overrides, key=lambda o: o.sort_key)), sets=self.sets,
            memory=self.memory, **meaning)

    def _meaning(self, parts: dict) -> dict:
        """The version's ``derived`` fields, ``profile_changes`` and ``facility_defaults``
        (their shapes are the index schema's; here what the schema cannot see: event types of
        the catalogue, profile fields the profile schema has, a derived field that would hide a
        stored one or be written by an event)."""
        profile_fields = self._profile_fields()
        doc, where, _ = parts["derived"]
        derived = []
        for name, spec in (doc.get("derived") or {}).items():
            def problem(message, *key, name=name):
                self.problems.append(Problem("bad_derivation", message, file=where,
                                             line=line_of(doc, ["derived", name], *key[:1]),
                                             key=dotted_key(["derived", name, *key])))
            op = next(o for o in DERIVED_OPS if o in spec)
            operand = plain(spec[op])
            path, value = (operand, None) if op == "years_since" else tuple(operand)
            if name in profile_fields:
                problem(f"derived field {name!r} would hide the profile's own field of that name")
            for key, read in ((op, path), ("given", spec.get("given"))):
                if read is not None and profile_fields and read.split(".")[1] not in profile_fields:
                    problem(f"{read!r}: the profile has no field {read.split('.')[1]!r} (it has "
                            f"{', '.join(sorted(profile_fields))})", key)
            derived.append(Derivation(str(name), op, path[len("profile."):], value,
                                      str(spec.get("given", ""))[len("profile."):]))
        names = {d.name for d in derived}
        doc, where, _ = parts["profile_changes"]
        changes = {}
        for event_type, spec in (doc.get("profile_changes") or {}).items():
            at = dict(file=where, line=line_of(doc, ["profile_changes"], event_type),
                      key=f"profile_changes.{event_type}")
            if event_type != "*" and event_type not in self.schemas.event_types:
                self.problems.append(Problem("unknown_event_type", f"no event type "
                                             f"{event_type!r} in the catalogue", **at))
            for field_name in sorted(set(spec.get("set") or {}) & names):
                self.problems.append(Problem("bad_derivation", f"set {field_name!r}: that "
                                             "profile field is derived (policy.yaml `derived`)", **at))
            changes[str(event_type)] = ProfileChange(
                spec.get("replace"), spec.get("merge"),
                tuple((str(k), str(v)) for k, v in (spec.get("set") or {}).items()))
        doc, _, _ = parts["facility_defaults"]
        exempt = tuple(str(t) for t in (doc.get("facility_defaults") or {}).get("exempt_user_types") or ())
        self.derived_names = names | profile_fields
        return dict(derived=tuple(derived), profile_changes=changes,
                    default_exempt_user_types=exempt)

    def _profile_fields(self) -> set[str]:
        """The fields a profile may hold: those of the shipped ``profile_patch`` definition."""
        try:
            found = self.schemas.contents(BASE + "defs.schema.json#/$defs/profile_patch")
            return set(found["properties"])
        except (LookupError, TypeError):
            return set()

    def _links_leaving(self, folder: Path) -> None:
        """A problem for every symbolic link in a folder of the version that leads outside the
        rules folder: none is followed (not even by the content hash, which reads every file)."""
        for top, folders, files in os.walk(folder, onerror=self._walk_error):
            for name in sorted(folders + files):
                path = Path(top) / name
                if path.is_symlink() and leaves(path, self.inside):
                    self.problems.append(Problem("unreadable_file", _OUTSIDE, file=self.display(path)))

    def _walk_error(self, error: OSError) -> None:
        self.problems.append(Problem("unreadable_file", f"cannot be read: {error.strerror or error}",
                                     file=self.display(Path(error.filename or self.folder))))

    def _source(self, index: dict, shown: str, folder: Path) -> dict[str, tuple[str, str]] | None:
        """The clauses of the policy text named by ``source``; None (with problems) when it
        cannot be read, lies outside the rules folder, or has no clause heading."""
        path = folder / index["source"]
        if leaves(path, self.inside):
            self.problems.append(Problem(
                "unreadable_file", "source names a file outside the rules folder: it is not read",
                file=shown, line=line_of(index, [], "source"), key="source"))
            return None
        where = self.display(path)
        text, problems = read_text(path, where, inside=self.inside, limit=MAX_TEXT_BYTES)
        self.problems += problems
        if text is None:
            return None
        headings = clause_headings(text)
        if not headings:
            self.problems.append(Problem(
                "no_clauses", ("the policy text is empty" if not text.strip() else
                               "the policy text has no clause heading") + " (a clause starts at a "
                "line such as '###### A) What information do we collect?')", file=where, line=1))
            return None
        first: dict[str, int] = {}
        for letter, _, _, line in headings:
            if letter in first:
                self.problems.append(Problem(
                    "duplicate_id", f"clause {letter} has a second heading (the first is on line "
                    f"{first[letter]})", file=where, line=line))
            first.setdefault(letter, line)
        return parse_clauses(text)

    def _base(self, index: dict, shown: str):
        """The folder and index of the version an amendment amends (a sibling folder named by
        ``amends``, itself a whole version: amendments do not chain)."""
        name = str(index["amends"])
        folder = self.folder.parent / name
        where = dict(file=shown, line=line_of(index, [], "amends"), key="amends")
        if not (folder / "policy.yaml").exists():
            self.problems.append(Problem("unknown_version", f"amends {name!r}, but there is no "
                                         f"version folder {name}/ beside this one", **where))
            return None
        if leaves(folder, real_folders([self.folder.parent])):
            self.problems.append(Problem("unreadable_file", f"amends {name!r}, but {name}/ is "
                                         + _OUTSIDE, **where))
            return None
        base_index, problems = read_checked(folder / "policy.yaml", self.display(folder / "policy.yaml"),
                                            self.schemas, POLICY_INDEX, real_folders([self.rules, folder]))
        self.problems += problems
        if base_index is None:
            return None
        if "amends" in base_index:
            self.problems.append(Problem("unknown_version", f"{name} is itself an amendment: "
                                         "amend the whole version it amends", **where))
            return None
        return folder, base_index, self.display(folder / "policy.yaml")

    def _sets(self, index: dict, shown: str) -> dict[str, tuple]:
        """Named sets: a list of constants, or ``{schema: "file#/pointer"}`` taking the enum of
        a schema of the vocabulary (e.g. every data category)."""
        out = {}
        for name, spec in (index.get("sets") or {}).items():
            spec = plain(spec)
            if isinstance(spec, list):
                out[str(name)] = tuple(spec)
                continue
            try:
                values = self.schemas.contents(BASE + spec["schema"])["enum"]
            except (LookupError, TypeError, AttributeError):
                values = None
            if not isinstance(values, list):
                self.problems.append(Problem(
                    "bad_set", f"set {name!r}: {spec['schema']!r} is not an enum of the shipped "
                    "schemas (write it as file#/pointer, e.g. defs.schema.json#/$defs/data_category)",
                    file=shown,
                    line=line_of(index, ["sets"], name), key=f"sets.{name}"))
                continue
            out[str(name)] = tuple(values)
        return out

    def _clauses(self, index: dict, source: dict, shown: str) -> dict[str, Clause]:
        clauses = {}
        for letter, entry in index["clauses"].items():
            if letter not in source:
                self.problems.append(Problem(
                    "unknown_clause", f"clause {letter!r} is not in the policy text "
                    f"({''.join(sorted(source))})", file=shown,
                    line=line_of(index, ["clauses"], letter), key=f"clauses.{letter}"))
                continue
            clauses[letter] = Clause(letter, str(entry["title"]), source[letter][1],
                                     bool(entry["operative"]), entry.get("reason"))
        for letter in sorted(set(source) - set(index["clauses"])):
            self.problems.append(Problem(
                "clause_not_indexed", f"clause {letter} of the policy text is missing from the "
                "index: say whether it is operative, or why it decides nothing",
                file=shown, line=line_of(index, ["clauses"]), key="clauses"))
        return clauses

    def _interpretations(self, clauses: dict[str, Clause]) -> dict[str, Interpretation]:
        """Interpretations from ``interpretations.yaml`` and ``interpretations/*.yaml``."""
        out: dict[str, Interpretation] = {}
        for depth, folder in enumerate(self.folders):
            paths = [folder / "interpretations.yaml"] + self._yaml_files(folder / "interpretations")
            # an amendment's interpretation replaces its base's of the same id
            self._replacing = set(out) if depth else set()
            for path in paths:
                if path.exists() or path.is_symlink():
                    self._interpretation_file(path, clauses, out)
        return out

    def _interpretation_file(self, path: Path, clauses: dict[str, Clause], out: dict) -> None:
        shown = self.display(path)
        doc, problems = read_checked(path, shown, self.schemas, INTERPRETATIONS, self.inside)
        self.problems += problems
        if doc is None:
            return
        for i, entry in enumerate(doc["interpretations"]):
            line = line_of(doc, ["interpretations", i])
            if entry["clause"] not in clauses:
                self.problems.append(Problem("unknown_clause", f"clause {entry['clause']!r} is not "
                                             "in the policy index", file=shown, line=line, key="clause"))
            elif _normal(entry["sentence"]) not in _normal(clauses[entry["clause"]].text):
                self.problems.append(Problem("quote_not_found", "the sentence is not in clause "
                                             f"{entry['clause']}'s text", file=shown, line=line,
                                             key=f"interpretations[{i}].sentence"))
            if entry["id"] in out and entry["id"] not in self._replacing:
                self.problems.append(Problem("duplicate_id", f"interpretation {entry['id']!r} is "
                                             "defined twice", file=shown, line=line, key="id"))
            self._replacing.discard(entry["id"])
            out[entry["id"]] = Interpretation(entry["id"], entry["clause"], _normal(entry["sentence"]),
                                              entry["reading"].strip(), entry["why"].strip())

    def _rules(self, clauses: dict[str, Clause], interpretations: dict) -> tuple[list[Rule], list[Override]]:
        files = []
        for depth, folder in enumerate(self.folders):
            files += [(depth, p) for p in self._yaml_files(folder / "clauses")]
        rules: list[Rule] = []
        overrides: list[Override] = []
        seen: dict[str, str] = {}
        base_ids: set[str] = set()  # an amendment's rule replaces its base's rule of the same id
        for depth, path in files:
            if depth and not base_ids:
                base_ids = set(seen)
            shown = self.display(path)
            doc, problems = read_checked(path, shown, self.schemas, RULE_FILE, self.inside)
            self.problems += problems
            if doc is None:
                continue
            letter = doc["clause"]
            where = dict(file=shown, line=line_of(doc, [], "clause"), key="clause")
            if letter not in clauses:
                self.problems.append(Problem(
                    "unknown_clause", f"clause {letter!r} is not a clause of this policy "
                    + (f"(it has {min(clauses)} to {max(clauses)})" if clauses else "(it has none)"),
                    **where))
                continue
            if not clauses[letter].operative and (doc["rules"] or doc.get("overrides")):
                self.problems.append(Problem(
                    "informative_clause_has_rules", f"clause {letter} is informative in "
                    "policy.yaml and cannot carry rules", **where))
                continue
            for section, build, out in (("rules", self._rule, rules),
                                        ("overrides", self._override, overrides)):
                for i, raw in enumerate(doc.get(section) or []):
                    made = build(raw, letter, clauses[letter], interpretations, doc, i, shown)
                    if made is None or (section == "rules" and self._too_many_tests(made, doc, i, shown)):
                        continue
                    if made.id in seen and depth and made.id in base_ids:
                        base_ids.discard(made.id)
                        rules[:] = [r for r in rules if r.id != made.id]
                        overrides[:] = [o for o in overrides if o.id != made.id]
                    elif made.id in seen:
                        self.problems.append(Problem(
                            "duplicate_rule_id", f"rule id {made.id!r} is already used in "
                            f"{seen[made.id]}", file=shown, line=made.line, key=f"{section}[{i}].id"))
                        continue
                    seen[made.id] = shown
                    out.append(made)
        return rules, overrides

    def _too_many_tests(self, rule: Rule, doc, i: int, shown: str) -> bool:
        """Whether a rule alone makes more distinct tests than one durable_rules ruleset may
        hold (:data:`~clauseline.policy.compiler.MAX_TESTS_PER_RULESET`); a problem at its
        ``when`` if so. Rules that make fewer are cut into rulesets that hold them (the matcher),
        so that no ruleset reaches durable_rules' hang, however many such rules one type has."""
        from .compiler import (MAX_OPERATORS_PER_RULE, MAX_TESTS_PER_RULESET, operators_of,
                               rule_expression, tests_of)
        expression = rule_expression(rule)
        nodes = operators_of(expression)
        if nodes > MAX_OPERATORS_PER_RULE:
            self._problem_at(doc, shown, "rules", i)(
                "bad_condition", f"the rule's test holds {nodes} and/or groups (one for the rule, "
                "one per list of event types, in list of two values or more, not_in list, is_not, "
                "match_any and match_any group of two conditions or more); durable_rules refuses "
                f"a rule past {MAX_OPERATORS_PER_RULE}: split it into rules of fewer", "when")
            return True
        made = len(tests_of(expression))
        if made <= MAX_TESTS_PER_RULESET:
            return False
        self._problem_at(doc, shown, "rules", i)(
            "bad_condition", f"the rule makes {made} distinct tests (the event type, each "
            "condition, each value of an in or not_in list); durable_rules hangs once 512 "
            f"follow one node of its network: at most {MAX_TESTS_PER_RULESET} per rule", "when")
        return True

    def _yaml_files(self, folder: Path) -> list[Path]:
        """The ``*.yaml`` entries of a folder of the version, sorted (none when it is absent, or
        a link leading out of the rules folder: that is a problem of its own, and what lies out
        there is not even listed)."""
        if not folder.is_dir() or leaves(folder, self.inside):
            return []
        try:
            return sorted(folder.glob("*.yaml"))
        except OSError as error:
            self._walk_error(error)
            return []

    def _checked_text(self, raw, letter, clause, interpretations, problem) -> None:
        """The id, quote and interpretations every rule and override must get right."""
        if not raw["id"].startswith(letter + "."):
            problem("rule_id_clause_mismatch", f"rule id {raw['id']!r} must start with "
                    f"'{letter}.', the clause of this file", "id")
        if _normal(raw["quote"]) not in _normal(clause.text):
            problem("quote_not_found", f"the quote is not a verbatim part of clause {letter}'s "
                    "text (white space and curly quotes aside)", "quote")
        for name in raw.get("interpretations", []):
            if name not in interpretations:
                problem("unknown_interpretation", f"no interpretation {name!r} in "
                        "interpretations.yaml", "interpretations")

    def _against_schemas(self, raw: dict, letter: str, problem, doc, at: list, shown: str) -> None:
        """What a decision carries from a rule, checked against the decision and outcome
        schemas now rather than when a decision fails them: the clause letter and rule id (the
        schemas' patterns), and every constant an ``emit`` gives a field of
        :data:`EMIT_CONSTANTS` (an unknown data category, recipient kind, purpose, notice id,
        ...), each located at its line. A rule's ``profile.<field>`` conditions must name a
        field the profile schema has or one policy.yaml derives."""
        for value, ref, key in ((letter, OUTCOME + "#/properties/clause", "id"),
                                (raw["id"], OUTCOME + "#/properties/rule", "id"),
                                (raw["id"], DECISION + "#/properties/trace/items", "id")):
            why = self._schema_says(value, ref)
            if why:
                problem("bad_rule_id", f"{value!r} is not allowed by {ref[len(BASE):]} ({why})",
                        key)
        for j, outcome in enumerate(raw.get("emit") or []):
            for name in EMIT_CONSTANTS:
                value = outcome.get(name)
                items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
                for k, item in items:
                    if not isinstance(item, str) or placeholders(item):
                        continue  # a template: rendered per fact, checked on the decision
                    why = self._schema_says([item] if k is not None else item,
                                            OUTCOME + "#/properties/" + name)
                    if not why:
                        continue
                    path = [*at, "emit", j, name]
                    written = line_of(doc, path + [k]) if k is not None else None
                    listed = _node(doc, path)
                    if not (isinstance(listed, list) and k < len(listed) and listed[k] == item):
                        written = None  # the value came from a named set: the field's line
                    self.problems.append(Problem(
                        "unknown_constant", f"emit {name}: {item!r} is not allowed by the outcome "
                        f"schema ({why})", file=shown,
                        line=written or line_of(doc, path[:-1], name),
                        key=dotted_key(path + ([k] if k is not None else []))))
        known = getattr(self, "derived_names", set())
        when = raw.get("when") or {}
        paths = [(("for_each",), when.get("for_each") or "")]
        paths += [(("match", p), p) for p in when.get("match") or {}]
        paths += [(("match_any", j, p), p) for j, g in enumerate(when.get("match_any") or [])
                  for p in g]
        for key, path in paths:
            parts = path.split(".")
            if parts[0] == "profile" and len(parts) > 1 and known and parts[1] not in known:
                problem("bad_condition", f"{path!r}: the profile has no field {parts[1]!r}, and "
                        "policy.yaml `derived` derives none of that name", "when", *key)

    def _schema_says(self, value, ref: str) -> str | None:
        """Why ``value`` fails the schema at ``ref`` (None when it passes). The answers are
        remembered: rules repeat their clause letters and constants many times over."""
        answers = self.__dict__.setdefault("_answers", {})
        key = (ref, json.dumps(value, sort_keys=True, default=repr))
        if key not in answers:
            answers[key] = self._schema_check(value, ref)
        return answers[key]

    def _schema_check(self, value, ref: str) -> str | None:
        fast = self.schemas.fast_ref(ref)
        try:
            if fast is not None and fast.is_valid(native(value)):
                return None  # jsonschema-rs's quick yes; python-jsonschema says why not
        except ValueError:
            pass
        cache = self.__dict__.setdefault("_refs", {})
        if ref not in cache:
            from jsonschema import Draft202012Validator  # only for a value jsonschema-rs refused
            from referencing.exceptions import Unresolvable
            try:
                cache[ref] = Draft202012Validator({"$ref": ref}, registry=self.schemas.registry)
                cache[ref].is_valid(None)
            except (Unresolvable, LookupError):
                cache[ref] = None  # a schema set without it checks nothing
        if cache[ref] is None:
            return None
        error = next(iter(cache[ref].iter_errors(value)), None)
        if error is None:
            return None
        if error.validator == "enum":
            return f"not one of its {len(error.validator_value)} values"
        if error.validator == "pattern":
            return f"it does not match {error.validator_value}"
        return error.message[:200]

    def _problem_at(self, doc, shown: str, section: str, i: int):
        def problem(code: str, message: str, *path) -> None:
            key_path = [section, i, *path]
            self.problems.append(Problem(code, message, file=shown,
                                         line=line_of(doc, key_path[:-1], key_path[-1]),
                                         key=dotted_key(key_path)))
        return problem

    def _override(self, raw, letter, clause, interpretations, doc, i, shown) -> Override | None:
        before = len(self.problems)
        problem = self._problem_at(doc, shown, "overrides", i)
        self._checked_text(raw, letter, clause, interpretations, problem)
        self._against_schemas(raw, letter, problem, doc, ["overrides", i], shown)
        holds = raw["while"]
        if not holds.startswith("memory."):
            problem("bad_condition", f"while {holds!r} must be a memory path (memory.<path>)", "while")
        else:
            why = memory_problem(holds[len("memory."):], self.memory)
            if why:
                problem("unknown_memory_path", why, "while")
        if len(self.problems) > before:
            return None
        return Override(
            id=raw["id"], clause=letter, title=str(raw["title"]).strip(), quote=_normal(raw["quote"]),
            holds=holds[len("memory."):], disclosure=raw.get("disclosure"), retain=raw.get("retain"),
            interpretations=tuple(raw.get("interpretations", [])), file=shown,
            line=line_of(doc, ["overrides", i]) or 0)

    def _rule(self, raw, letter, clause, interpretations, doc, i, shown) -> Rule | None:
        before = len(self.problems)
        problem = self._problem_at(doc, shown, "rules", i)
        self._checked_text(raw, letter, clause, interpretations, problem)
        unknown: list[str] = []
        raw = dict(raw, when=resolve_sets(plain(raw["when"]), self.sets, unknown),
                   emit=resolve_sets(plain(raw["emit"]), self.sets, unknown),
                   remember=resolve_sets(plain(raw.get("remember", [])), self.sets, unknown))
        for name in sorted(set(unknown)):
            problem("unknown_set", f"no set {name!r} in policy.yaml `sets` (it has "
                    f"{', '.join(sorted(self.sets)) or 'none'})", "id")
        when = raw["when"]
        events = [when["event"]] if isinstance(when["event"], str) else list(when["event"])
        for name in events:
            if name != "*" and name not in self.schemas.event_types:
                problem("unknown_event_type", f"no event type {name!r} in the catalogue",
                        "when", "event")
        roots = FACT_ROOTS if "for_each" in when else FACT_ROOTS - {"item"}
        # durable_rules keys each fact by its own `id`: conditions cannot test the event's id
        condition_roots = roots - {"id"}
        if "for_each" in when and when["for_each"].split(".")[0] not in FACT_ROOTS - {"item"}:
            problem("bad_condition", f"for_each path {when['for_each']!r} must start with one "
                    f"of {', '.join(sorted(FACT_ROOTS - {'item'}))}", "when", "for_each")
        groups = [("match", when.get("match", {}))] + [
            (("match_any", j), g) for j, g in enumerate(when.get("match_any", []))]
        for where, group in groups:
            for path in group:
                if path.split(".")[0] not in condition_roots:
                    extra = "" if "for_each" in when else " (item needs for_each)"
                    problem("bad_condition", f"path {path!r} must start with one of "
                            f"{', '.join(sorted(condition_roots))}{extra}", "when",
                            *(where if isinstance(where, tuple) else (where,)), path)
        for where, group in groups:
            for path, test in group.items():
                at = ("when", *(where if isinstance(where, tuple) else (where,)), path)
                for op, value in _tests(test):
                    why = _constant_problem(op, plain(value))
                    if why:
                        problem("bad_condition", f"{op}: {why}", *at)
        templates = [(("emit", j, name), t) for j, o in enumerate(raw["emit"]) for name, t in o.items()]
        for where, group in groups:
            for path, test in group.items():
                for op, value in _tests(test):
                    if op in COMPUTED_OPS:
                        at = ("when", *(where if isinstance(where, tuple) else (where,)), path)
                        templates += [(at, t) for t in _templates_of(plain(value))]
        for j, op in enumerate(raw.get("remember", [])):
            for name in ("set", "append", "delete", "value", "subject"):
                if name in op:
                    templates.append((("remember", j, name), plain(op[name])))
        read = [(("when", "for_each"), when["for_each"])] if "for_each" in when else []
        read += [(("when", *(w if isinstance(w, tuple) else (w,)), path), path)
                 for w, group in groups for path in group]
        for at, template in templates:
            for body in _all_placeholders(template):
                try:
                    path, _ = parse_placeholder(body)
                except ValueError as error:
                    problem("bad_template", str(error), *at)
                    continue
                if path.split(".")[0] not in roots:
                    problem("bad_template", f"placeholder path {path!r} must start with one "
                            f"of {', '.join(sorted(roots))}", *at)
                read.append((at, path))
        for at, path in read:
            if path.startswith("memory."):
                why = memory_problem(path[len("memory."):], self.memory)
                if why:
                    problem("unknown_memory_path", why, *at)
        for j, op in enumerate(raw.get("remember", [])):
            verb = next(v for v in ("set", "append", "delete") if v in op)
            parts = ["*" if "{" in seg else seg for seg in split_path(op[verb])]
            if parts[0] in ENGINE_WRITTEN or parts[0].startswith("_"):
                problem("engine_owned_memory", f"{op[verb]!r}: the engine keeps "
                        f"{', '.join(ENGINE_WRITTEN)} itself; rules do not write them",
                        "remember", j, verb)
            elif not _covered(parts, self.memory):
                problem("unknown_memory_path", f"remember path {op[verb]!r} is not declared in "
                        f"policy.yaml `memory` (declared: {', '.join(sorted(self.memory)) or 'none'})",
                        "remember", j, verb)
        if raw.get("fallback") and any(o["kind"] != "disclosure" for o in raw["emit"]):
            problem("bad_fallback", "only disclosure rules can be fallbacks", "fallback")
        self._against_schemas(raw, letter, problem, doc, ["rules", i], shown)
        if len(self.problems) > before:
            return None
        return Rule(
            id=raw["id"], clause=letter, title=str(raw["title"]).strip(), quote=_normal(raw["quote"]),
            events=tuple(events), for_each=when.get("for_each"),
            match=_conditions(when.get("match", {}), self.keys),
            match_any=tuple(_conditions(g, self.keys) for g in when.get("match_any", [])),
            emit=tuple(raw["emit"]), fallback=bool(raw.get("fallback", False)),
            interpretations=tuple(raw.get("interpretations", [])),
            remember=tuple(raw.get("remember", [])), file=shown,
            line=line_of(doc, ["rules", i]) or 0)


def _node(doc, path: list):
    """The node of a YAML document at a key path, or None."""
    for step in path:
        try:
            doc = doc[step]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def _all_placeholders(template) -> list[str]:
    if isinstance(template, dict):
        return [b for v in template.values() for b in _all_placeholders(v)]
    return placeholders(template)


def load_facilities(path: Path, schemas: SchemaSet, shown: str | None = None,
                    inside=None) -> tuple[dict, list[Problem]]:
    """Facility profiles from a YAML file, validated like rules; problems are located. With
    ``inside`` (folders, as :func:`~clauseline.policy.reading.real_folders` gives them) the file
    must lie in one of them once symbolic links are followed."""
    shown = shown or str(path)
    doc, problems = read_checked(path, shown, schemas, FACILITIES, inside)
    if doc is None:
        return {}, problems
    out = {}
    for i, entry in enumerate(doc["facilities"]):
        if entry["id"] in out:
            problems.append(Problem("duplicate_id", f"facility {entry['id']!r} is listed twice",
                                    file=shown, line=line_of(doc, ["facilities", i]), key="id"))
        # none listed: the policy version in force says what is exempt (Policy.facility)
        exempt = tuple(entry.get("exempt_user_types") or ())
        out[entry["id"]] = Facility(str(entry["id"]), str(entry.get("name", "")), exempt)
    return out, problems


def _hash_file(digest, name: bytes, path: Path) -> None:
    """Add one file to a content hash, read in chunks (memory stays flat whatever its size) and
    opened without blocking; a file that is no longer a regular one is left out."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            return
        digest.update(b"%d:%s%d:" % (len(name), name, info.st_size))
        left = info.st_size
        while left > 0:
            chunk = os.read(handle, min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    finally:
        os.close(handle)


def content_hash(folders: list[Path], facilities: bytes = b"",
                 schemas: SchemaSet | None = None) -> str:
    """SHA-256 (hex) of the files of a version's folders (an amendment's base, then the
    amendment), by relative path and content (policy.yaml holds the derivations and profile
    changes), of the facility profiles and of the JSON Schemas the policy was checked and its
    events are validated with: equal for equal rules and schemas wherever the folders lie."""
    digest = hashlib.sha256()
    if schemas is not None:
        paths = sorted(set(schemas.ids.values()))
        digest.update(b"schemas:%d:" % len(paths))
        for path in paths:
            _hash_file(digest, path.relative_to(schemas.folder).as_posix().encode(), path)
    for depth, folder in enumerate(folders):
        digest.update(b"folder:%d:" % depth)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()
                           and "__pycache__" not in p.parts and p.name != "__init__.py"):
            _hash_file(digest, path.relative_to(folder).as_posix().encode(), path)
    digest.update(b"facilities:%d:" % len(facilities))
    digest.update(facilities)
    return digest.hexdigest()


def _version_folders(root: Path) -> tuple[list[Path], Path, list[Problem]]:
    """The version folders under ``root`` (itself, when it holds ``policy.yaml``), the folder
    they lie in, and the problems that keep any from being read: a root that is no folder, or a
    version folder that is a symbolic link leading outside it."""

    def none(message: str) -> tuple[list[Path], Path, list[Problem]]:
        return [], root, [Problem("no_policy", message, file=str(root))]

    try:
        if (root / "policy.yaml").exists():
            return [root], root.parent, []
        if not root.exists():
            return none("no such folder: the rules folder holds version folders, or is one")
        if not root.is_dir():
            return none("not a folder: the rules folder holds version folders, or is one")
        candidates = sorted(p for p in root.iterdir() if (p / "policy.yaml").exists())
    except OSError as error:
        return [], root, [Problem("unreadable_file", f"cannot be read: {error.strerror or error}",
                                  file=str(root))]
    if not candidates:
        return none(f"no policy.yaml in {root} or its sub-folders")
    inside = real_folders([root])
    problems = [Problem("unreadable_file", _OUTSIDE, file=str(p.relative_to(root.parent)))
                for p in candidates if leaves(p, inside)]
    return [p for p in candidates if not leaves(p, inside)], root, problems


def load_policy(root: str | Path | None = None, schemas: SchemaSet | None = None,
                facilities: str | Path | None = None, fixtures: bool = False) -> Policy:
    """Load every policy version under ``root`` (default: the shipped rules) and compile it.

    Versions marked ``fixture: true`` (test fixtures, such as the shipped made-up amendment)
    are always checked, and kept only with ``fixtures``: no real event is decided under one
    unless it is asked for.

    ``root`` is either a folder of version folders or one version folder (it holds
    ``policy.yaml``). Facility profiles come from ``facilities`` or, by default, from
    ``facilities.yaml`` beside the version folders (none: every facility exempts attorneys).
    Raises :class:`PolicyLoadError` listing every located problem.
    """
    from .matcher import Matcher

    root = Path(root) if root is not None else rules_dir()
    schemas = schemas or SchemaSet()
    folders, base, problems = _version_folders(root)
    versions = []
    for folder in folders:
        loader = _VersionLoader(folder, schemas, base.parent, root)
        version = loader.load()
        problems += loader.problems
        if version is not None:
            versions.append(version)
    facility_path = Path(facilities) if facilities else base / "facilities.yaml"
    profiles = {}
    has_facilities = bool(facilities) or facility_path.exists() or facility_path.is_symlink()
    if has_facilities:
        # the default profiles lie in the rules folder; a file named on purpose lies anywhere
        inside = None if facilities else real_folders([base])
        profiles, found = load_facilities(facility_path, schemas, inside=inside)
        problems += found
    if problems:
        # an amendment reads its base's files again: their problems are reported once
        raise PolicyLoadError(list(dict.fromkeys(problems)))
    versions.sort(key=lambda v: v.effective_from)
    if not fixtures:
        versions = [v for v in versions if not v.fixture] or versions
    # the bytes just read and checked, read again for the content hash (never blocking)
    facility_bytes = (read_bytes(facility_path, str(facility_path))[0] or b"") if has_facilities else b""
    for version in versions:
        version.content_hash = content_hash([Path(f) for f in version.folders], facility_bytes,
                                            schemas)
        try:
            version.matcher = Matcher(version)
        except ValueError as error:  # rule paths durable_rules cannot tell apart, or too many
            raise PolicyLoadError([Problem("bad_condition", str(error),
                                           file=str(version.folders[-1]) if version.folders
                                           else None)]) from None
    return Policy(tuple(versions), profiles, schemas)
