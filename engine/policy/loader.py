"""Strict loading of a policy: its index, its source text and its rule files.

Each problem names the file, the line and the key: unknown keys, missing fields, duplicate keys,
a clause letter the policy does not have, a rule id outside its clause, a quote that is not in
the clause's text, a condition or template the compiler cannot use. Every problem in every file
is reported at once; nothing half-loaded is returned.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from ..errors import PolicyLoadError, Problem
from ..events.validation import BASE, SchemaSet
from ..eventtime import parse_time
from ..resources import rules_dir
from .model import (COMPUTED_OPS, DEFAULT_EXEMPT_USER_TYPES, Clause, Condition, Facility, Interpretation, Policy,
                    PolicyVersion, Rule)
from .reading import dotted_key, line_of, plain, read_checked
from .templates import parse_placeholder, placeholders

RULE_FILE = BASE + "rule-file.schema.json"
POLICY_INDEX = BASE + "policy-index.schema.json"
INTERPRETATIONS = BASE + "interpretations.schema.json"
FACILITIES = BASE + "facilities.schema.json"

#: Roots a condition or template path may start with (see docs/rule-format.md).
FACT_ROOTS = {"id", "source", "type", "subject", "time", "data", "item", "profile", "memory",
              "facility", "policy"}
_HEADING = re.compile(r"^#{2,6}\s+([A-Z])\)\s*(.+?)\s*$", re.M)


def _normal(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip()


def parse_clauses(text: str) -> dict[str, tuple[str, str]]:
    """Clause letter -> (heading title, body text) from the policy's Markdown source."""
    heads = list(_HEADING.finditer(text))
    out = {}
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[head.end():end]
        body = re.split(r"^#{1,5}\s", body, flags=re.M)[0]  # stop at the next PART heading
        out[head.group(1)] = (head.group(2), body.strip())
    return out


def _conditions(raw: dict, keys) -> tuple[Condition, ...]:
    out = []
    for path, test in raw.items():
        if isinstance(test, dict):
            (op, value), = test.items()
        else:
            op, value = "eq", test
        condition = Condition(path, op, plain(value))
        if condition.computed:
            condition = Condition(path, op, condition.value, f"k{next(keys)}")
        out.append(condition)
    return tuple(out)


def _templates_of(condition_value) -> list:
    """The templates inside a computed condition's right side."""
    if isinstance(condition_value, dict):
        return [condition_value["since"]] if "since" in condition_value else list(condition_value.values())
    return [condition_value]


class _VersionLoader:
    """Loads one version folder; collects problems instead of stopping at the first."""

    def __init__(self, folder: Path, schemas: SchemaSet, base: Path):
        self.folder, self.schemas, self.base = folder, schemas, base
        self.problems: list[Problem] = []
        self.keys = itertools.count(1)

    def display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.base))
        except ValueError:
            return str(path)

    def load(self) -> PolicyVersion | None:
        index_path = self.folder / "policy.yaml"
        shown = self.display(index_path)
        index, problems = read_checked(index_path, shown, self.schemas, POLICY_INDEX)
        self.problems += problems
        if index is None:
            return None
        source_path = self.folder / index["source"]
        try:
            source = parse_clauses(source_path.read_text(encoding="utf-8"))
        except OSError as error:
            self.problems.append(Problem("unreadable_file", str(error), file=self.display(source_path)))
            return None
        clauses = self._clauses(index, source, shown)
        interpretations = self._interpretations(clauses)
        rules = self._rules(clauses, interpretations)
        if self.problems:
            return None
        return PolicyVersion(
            version=str(index["version"]), title=str(index["title"]),
            effective_from=parse_time(str(index["effective_from"])), clauses=clauses,
            rules=tuple(sorted(rules, key=lambda r: r.sort_key)),
            contact={str(k): str(v) for k, v in (index.get("contact") or {}).items()},
            interpretations=interpretations, folder=str(self.folder))

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
        paths = [self.folder / "interpretations.yaml"] + sorted((self.folder / "interpretations").glob("*.yaml"))
        out: dict[str, Interpretation] = {}
        for path in paths:
            if path.exists():
                self._interpretation_file(path, clauses, out)
        return out

    def _interpretation_file(self, path: Path, clauses: dict[str, Clause], out: dict) -> None:
        shown = self.display(path)
        doc, problems = read_checked(path, shown, self.schemas, INTERPRETATIONS)
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
            if entry["id"] in out:
                self.problems.append(Problem("duplicate_id", f"interpretation {entry['id']!r} is "
                                             "defined twice", file=shown, line=line, key="id"))
            out[entry["id"]] = Interpretation(entry["id"], entry["clause"], _normal(entry["sentence"]),
                                              entry["reading"].strip(), entry["why"].strip())

    def _rules(self, clauses: dict[str, Clause], interpretations: dict) -> list[Rule]:
        folder = self.folder / "clauses"
        files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
        rules: list[Rule] = []
        seen: dict[str, str] = {}
        for path in files:
            shown = self.display(path)
            doc, problems = read_checked(path, shown, self.schemas, RULE_FILE)
            self.problems += problems
            if doc is None:
                continue
            letter = doc["clause"]
            where = dict(file=shown, line=line_of(doc, [], "clause"), key="clause")
            if letter not in clauses:
                self.problems.append(Problem(
                    "unknown_clause", f"clause {letter!r} is not a clause of this policy "
                    f"(it has {min(clauses)} to {max(clauses)})", **where))
                continue
            if not clauses[letter].operative and doc["rules"]:
                self.problems.append(Problem(
                    "informative_clause_has_rules", f"clause {letter} is informative in "
                    "policy.yaml and cannot carry rules", **where))
                continue
            for i, raw in enumerate(doc["rules"]):
                rule = self._rule(raw, letter, clauses[letter], interpretations, doc, i, shown)
                if rule is None:
                    continue
                if rule.id in seen:
                    self.problems.append(Problem("duplicate_rule_id", f"rule id {rule.id!r} is "
                                                 f"already used in {seen[rule.id]}", file=shown,
                                                 line=rule.line, key=f"rules[{i}].id"))
                    continue
                seen[rule.id] = shown
                rules.append(rule)
        return rules

    def _rule(self, raw, letter, clause, interpretations, doc, i, shown) -> Rule | None:
        before = len(self.problems)

        def problem(code: str, message: str, *path) -> None:
            key_path = ["rules", i, *path]
            self.problems.append(Problem(code, message, file=shown,
                                         line=line_of(doc, key_path[:-1], key_path[-1]),
                                         key=dotted_key(key_path)))

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
        templates = [(("emit", j, name), t) for j, o in enumerate(raw["emit"]) for name, t in o.items()]
        for where, group in groups:
            for path, test in group.items():
                if isinstance(test, dict) and len(test) == 1:
                    (op, value), = test.items()
                    if op in COMPUTED_OPS:
                        at = ("when", *(where if isinstance(where, tuple) else (where,)), path)
                        templates += [(at, t) for t in _templates_of(plain(value))]
        for j, op in enumerate(raw.get("remember", [])):
            for name in ("set", "append", "delete", "value", "subject"):
                if name in op:
                    templates.append((("remember", j, name), plain(op[name])))
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
        if raw.get("fallback") and any(o["kind"] != "disclosure" for o in raw["emit"]):
            problem("bad_fallback", "only disclosure rules can be fallbacks", "fallback")
        if len(self.problems) > before:
            return None
        return Rule(
            id=raw["id"], clause=letter, title=str(raw["title"]).strip(), quote=_normal(raw["quote"]),
            events=tuple(events), for_each=when.get("for_each"),
            match=_conditions(when.get("match", {}), self.keys),
            match_any=tuple(_conditions(g, self.keys) for g in when.get("match_any", [])),
            emit=tuple(plain(o) for o in raw["emit"]), fallback=bool(raw.get("fallback", False)),
            interpretations=tuple(raw.get("interpretations", [])),
            remember=tuple(plain(op) for op in raw.get("remember", [])), file=shown,
            line=line_of(doc, ["rules", i]) or 0)


def _all_placeholders(template) -> list[str]:
    if isinstance(template, dict):
        return [b for v in template.values() for b in _all_placeholders(v)]
    return placeholders(template)


def load_facilities(path: Path, schemas: SchemaSet, shown: str | None = None) -> tuple[dict, list[Problem]]:
    """Facility profiles from a YAML file, validated like rules; problems are located."""
    shown = shown or str(path)
    doc, problems = read_checked(path, shown, schemas, FACILITIES)
    if doc is None:
        return {}, problems
    out = {}
    for i, entry in enumerate(doc["facilities"]):
        if entry["id"] in out:
            problems.append(Problem("duplicate_id", f"facility {entry['id']!r} is listed twice",
                                    file=shown, line=line_of(doc, ["facilities", i]), key="id"))
        exempt = tuple(entry.get("exempt_user_types") or DEFAULT_EXEMPT_USER_TYPES)
        out[entry["id"]] = Facility(str(entry["id"]), str(entry.get("name", "")), exempt)
    return out, problems


def load_policy(root: str | Path | None = None, schemas: SchemaSet | None = None,
                facilities: str | Path | None = None) -> Policy:
    """Load every policy version under ``root`` (default: the shipped rules) and compile it.

    ``root`` is either a folder of version folders or one version folder (it holds
    ``policy.yaml``). Facility profiles come from ``facilities`` or, by default, from
    ``facilities.yaml`` beside the version folders (none: every facility exempts attorneys).
    Raises :class:`PolicyLoadError` listing every located problem.
    """
    from .matcher import Matcher

    root = Path(root) if root is not None else rules_dir()
    schemas = schemas or SchemaSet()
    if (root / "policy.yaml").exists():
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if (p / "policy.yaml").exists()) if root.is_dir() else []
    if not folders:
        raise PolicyLoadError([Problem("no_policy", f"no policy.yaml in {root} or its sub-folders",
                                       file=str(root))])
    base = root.parent if (root / "policy.yaml").exists() else root
    problems, versions = [], []
    for folder in folders:
        loader = _VersionLoader(folder, schemas, base.parent)
        version = loader.load()
        problems += loader.problems
        if version is not None:
            versions.append(version)
    facility_path = Path(facilities) if facilities else base / "facilities.yaml"
    profiles = {}
    if facilities or facility_path.exists():
        profiles, found = load_facilities(facility_path, schemas)
        problems += found
    if problems:
        raise PolicyLoadError(problems)
    versions.sort(key=lambda v: v.effective_from)
    for version in versions:
        version.matcher = Matcher(version)
    return Policy(tuple(versions), profiles, schemas)
