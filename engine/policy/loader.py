"""Strict loading of a policy: its index, its source text and its rule files.

Each problem names the file, the line and the key: unknown keys, missing fields, duplicate keys,
a clause letter the policy does not have, a rule id outside its clause, a quote that is not in
the clause's text, a condition or template the compiler cannot use. Every problem in every file
is reported at once; nothing half-loaded is returned.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

from referencing.exceptions import Unresolvable

from ..errors import PolicyLoadError, Problem
from ..events.validation import BASE, SchemaSet
from ..eventtime import parse_time
from ..resources import rules_dir
from .model import (COMPUTED_OPS, DEFAULT_EXEMPT_USER_TYPES, Clause, Condition, Facility, Interpretation,
                    Override, Policy, PolicyVersion, Rule)
from .reading import dotted_key, line_of, plain, read_checked
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
_SET_REF = re.compile(r"\{sets\.([a-z_][a-z0-9_]*)\}")
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


def _tests(test) -> list[tuple[str, object]]:
    """The (operator, value) pairs of one path's test: a scalar is equality; a mapping may hold
    several operators, all of which must hold (``{gte: 13, lt: 18}``)."""
    return list(test.items()) if isinstance(test, dict) else [("eq", test)]


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
        #: the folders whose files make this version: an amendment's base, then the amendment
        self.folders = [self.folder]
        retired: set[str] = set()
        # where each part of the index comes from (document, file shown in errors, folder): an
        # amendment takes from its base what it does not restate
        parts = {key: (index, shown, self.folder) for key in ("source", "clauses", "contact",
                                                              "sets", "memory")}
        if "amends" in index:
            base = self._base(index, shown)
            if base is None:
                return None
            base_folder, base_index, base_shown = base
            self.folders = [base_folder, self.folder]
            for key in parts:
                if key not in index:
                    parts[key] = (base_index, base_shown, base_folder)
            retired = set(index.get("retire") or ())
        doc, _, folder = parts["source"]
        source_path = folder / doc["source"]
        try:
            source = parse_clauses(source_path.read_text(encoding="utf-8"))
        except OSError as error:
            self.problems.append(Problem("unreadable_file", str(error), file=self.display(source_path)))
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
            memory=self.memory)

    def _base(self, index: dict, shown: str):
        """The folder and index of the version an amendment amends (a sibling folder named by
        ``amends``, itself a whole version: amendments do not chain)."""
        name = str(index["amends"])
        folder = self.folder.parent / name
        where = dict(file=shown, line=line_of(index, [], "amends"), key="amends")
        if not (folder / "policy.yaml").is_file():
            self.problems.append(Problem("unknown_version", f"amends {name!r}, but there is no "
                                         f"version folder {name}/ beside this one", **where))
            return None
        base_index, problems = read_checked(folder / "policy.yaml", self.display(folder / "policy.yaml"),
                                            self.schemas, POLICY_INDEX)
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
                values = self.schemas.registry.resolver().lookup(BASE + spec["schema"]).contents["enum"]
            except (Unresolvable, KeyError, LookupError, TypeError, AttributeError):
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
            paths = [folder / "interpretations.yaml"] + sorted((folder / "interpretations").glob("*.yaml"))
            # an amendment's interpretation replaces its base's of the same id
            self._replacing = set(out) if depth else set()
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
            if entry["id"] in out and entry["id"] not in self._replacing:
                self.problems.append(Problem("duplicate_id", f"interpretation {entry['id']!r} is "
                                             "defined twice", file=shown, line=line, key="id"))
            self._replacing.discard(entry["id"])
            out[entry["id"]] = Interpretation(entry["id"], entry["clause"], _normal(entry["sentence"]),
                                              entry["reading"].strip(), entry["why"].strip())

    def _rules(self, clauses: dict[str, Clause], interpretations: dict) -> tuple[list[Rule], list[Override]]:
        files = []
        for depth, folder in enumerate(self.folders):
            folder = folder / "clauses"
            files += [(depth, p) for p in (sorted(folder.glob("*.yaml")) if folder.is_dir() else [])]
        rules: list[Rule] = []
        overrides: list[Override] = []
        seen: dict[str, str] = {}
        base_ids: set[str] = set()  # an amendment's rule replaces its base's rule of the same id
        for depth, path in files:
            if depth and not base_ids:
                base_ids = set(seen)
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
            if not clauses[letter].operative and (doc["rules"] or doc.get("overrides")):
                self.problems.append(Problem(
                    "informative_clause_has_rules", f"clause {letter} is informative in "
                    "policy.yaml and cannot carry rules", **where))
                continue
            for section, build, out in (("rules", self._rule, rules),
                                        ("overrides", self._override, overrides)):
                for i, raw in enumerate(doc.get(section) or []):
                    made = build(raw, letter, clauses[letter], interpretations, doc, i, shown)
                    if made is None:
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


def content_hash(folders: list[Path], facilities: bytes = b"") -> str:
    """SHA-256 (hex) of the files of a version's folders (an amendment's base, then the
    amendment), by relative path and content, and of the facility profiles: equal for equal
    rules wherever the folders lie."""
    digest = hashlib.sha256()
    for depth, folder in enumerate(folders):
        digest.update(b"folder:%d:" % depth)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()
                           and "__pycache__" not in p.parts and p.name != "__init__.py"):
            name = path.relative_to(folder).as_posix().encode()
            data = path.read_bytes()
            digest.update(b"%d:%s%d:" % (len(name), name, len(data)))
            digest.update(data)
    digest.update(b"facilities:%d:" % len(facilities))
    digest.update(facilities)
    return digest.hexdigest()


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
        # an amendment reads its base's files again: their problems are reported once
        raise PolicyLoadError(list(dict.fromkeys(problems)))
    versions.sort(key=lambda v: v.effective_from)
    if not fixtures:
        versions = [v for v in versions if not v.fixture] or versions
    facility_bytes = facility_path.read_bytes() if facility_path.is_file() else b""
    for version in versions:
        version.content_hash = content_hash([Path(f) for f in version.folders], facility_bytes)
        version.matcher = Matcher(version)
    return Policy(tuple(versions), profiles, schemas)
