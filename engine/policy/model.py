"""The policy as loaded: versions, clauses, rules and interpretations (plain, immutable data)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable

from .templates import Compiled, compile_instant, compile_template


@dataclass(frozen=True)
class Clause:
    """A lettered clause of the policy text: operative (has rules) or informative (says why not)."""

    letter: str
    title: str
    text: str
    operative: bool
    reason: str | None = None


#: Operators whose right side is a template rendered per fact (another field, a shifted time,
#: a list): the evaluator computes them into a boolean that durable_rules then tests.
COMPUTED_OPS = ("before", "after", "not_before", "not_after", "same_as", "differs_from",
                "one_of", "none_of", "count_since", "some_have", "none_have")
#: The computed operators that compare two instants.
TIME_OPS = ("before", "after", "not_before", "not_after")


@dataclass(frozen=True)
class Condition:
    """One field test of a rule. ``op`` is an operator of :data:`clauseline.policy.compiler.OPERATORS`; ``key`` names
    the boolean a computed condition is stored under in the fact (``_cmp.<key>``)."""

    path: str
    op: str
    value: Any
    key: str = ""
    #: A computed condition's right side compiled, rendered at every fact and parsed once here:
    #: for the time comparisons and the ``since`` of ``count_since``, a function of the fact
    #: giving the instant it names (:func:`~clauseline.policy.templates.compile_instant`);
    #: for the others a compiled template (``some_have`` and ``none_have``: the object of
    #: templates). None for a direct condition, which durable_rules tests against a constant.
    right: Callable | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.op in TIME_OPS:
            object.__setattr__(self, "right", compile_instant(self.value))
        elif self.op == "count_since":
            object.__setattr__(self, "right", compile_instant(self.value["since"]))
        elif self.computed:
            object.__setattr__(self, "right", compile_template(self.value))

    @property
    def computed(self) -> bool:
        """Whether the evaluator computes this condition (durable_rules tests its flag)."""
        return self.op in COMPUTED_OPS


@dataclass(frozen=True)
class Rule:
    """A declarative rule: when an event (or each element of one of its lists) matches, emit
    the outcome templates. ``match_any`` is a list of alternative condition groups."""

    id: str
    clause: str
    title: str
    quote: str
    events: tuple[str, ...]
    for_each: str | None
    match: tuple[Condition, ...]
    match_any: tuple[tuple[Condition, ...], ...]
    emit: tuple[dict, ...]
    fallback: bool = False
    interpretations: tuple[str, ...] = ()
    remember: tuple[dict, ...] = ()
    file: str = ""
    line: int = 0
    #: ``emit`` compiled: (kind, ((field, compiled template), ...)) per outcome template, its
    #: fields in their order; what the evaluator renders at every firing, parsed once here.
    emitters: tuple[tuple[str, tuple[tuple[str, Compiled], ...]], ...] = field(
        init=False, default=(), compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "emitters", tuple(
            (template["kind"], tuple((name, compile_template(value))
                                     for name, value in template.items() if name != "kind"))
            for template in self.emit))

    @property
    def sort_key(self) -> tuple[str, str]:
        """The documented order of rules in traces and bases: clause letter, then id."""
        return (self.clause, self.id)

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """Every condition of the rule, ``match`` first, then each ``match_any`` group."""
        return self.match + tuple(c for group in self.match_any for c in group)

    @property
    def reads_memory(self) -> bool:
        """Whether the rule reads what a store remembers of a subject: a condition, its
        ``for_each``, a template or a ``remember`` that names ``memory.`` or ``profile.`` (the
        profile may come from earlier events)."""
        texts = [c.path for c in self.conditions] + [repr(c.value) for c in self.conditions]
        texts += [self.for_each or "", repr(self.emit), repr(self.remember)]
        return any("memory." in t or "profile." in t for t in texts)


@dataclass(frozen=True)
class Override:
    """A policy-level override: while a subject's memory holds ``holds`` (a memory path, read
    as of the event's time after the event's own changes), every disclosure concerning the
    subject is denied (``disclosure: deny``) and every ``retain`` of its data becomes a
    ``delete`` due at the event's time (``retain: delete``), each citing the override."""

    id: str
    clause: str
    title: str
    quote: str
    holds: str
    disclosure: str | None = None
    retain: str | None = None
    interpretations: tuple[str, ...] = ()
    file: str = ""
    line: int = 0
    fallback: bool = False

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.clause, self.id)


#: The operators a derived profile field may use (policy.yaml ``derived``; docs/rule-format.md):
#: ``years_since: PATH`` (whole years from the date at PATH to the event's UTC date),
#: ``equal: [PATH, CONSTANT]`` and ``not_equal: [PATH, CONSTANT]`` (an absent PATH is not equal).
DERIVED_OPS = ("years_since", "equal", "not_equal")
#: What an event type's ``profile_changes`` entry may do, applied in this order: ``replace``
#: (the profile becomes the object at a path), ``merge`` (each field of the object at a path is
#: set), ``set`` (named fields from paths).
PROFILE_CHANGE_OPS = ("replace", "merge", "set")


@dataclass(frozen=True)
class Derivation:
    """A profile field derived at event time (policy.yaml ``derived``): ``op`` of
    :data:`DERIVED_OPS` over the profile path ``path`` (``profile.``-less, dotted) and, for the
    comparisons, ``value``. It is present only when the path ``given`` (by default ``path``) is
    present in the profile."""

    name: str
    op: str
    path: str
    value: Any = None
    given: str = ""


@dataclass(frozen=True)
class ProfileChange:
    """What an event type does to its subject's profile (policy.yaml ``profile_changes``): each
    path is an event path (``data.profile``); ``set`` pairs a profile field with one."""

    replace: str | None = None
    merge: str | None = None
    set: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Interpretation:
    """A reading chosen for an ambiguous sentence, and why."""

    id: str
    clause: str
    sentence: str
    reading: str
    why: str



def rules_counted(rules: int, overrides: int) -> str:
    """``86 rules and 1 override``: the one way a count of rules is stated (the ``rules check``,
    ``clauses`` and coverage outputs, and the documents, which ``tests/test_rule_counts.py`` holds
    to the loaded policy). An override is not a rule: it is counted on its own."""
    text = f"{rules} rule{'' if rules == 1 else 's'}"
    if overrides:
        text += f" and {overrides} override{'' if overrides == 1 else 's'}"
    return text

@dataclass
class PolicyVersion:
    """One version of the policy, in force from ``effective_from``."""

    version: str
    title: str
    effective_from: datetime
    clauses: dict[str, Clause]
    rules: tuple[Rule, ...]
    contact: dict[str, str] = field(default_factory=dict)
    interpretations: dict[str, Interpretation] = field(default_factory=dict)
    folder: str = ""
    matcher: Any = None  # clauseline.policy.matcher.Matcher, compiled from ``rules``
    overrides: tuple[Override, ...] = ()
    #: Named constant sets (``{sets.NAME}``), resolved into the rules at load.
    sets: dict[str, tuple] = field(default_factory=dict)
    #: The memory paths rules may read and write (``*`` is any one segment), with what each holds.
    memory: dict[str, str] = field(default_factory=dict)
    #: A test fixture (``fixture: true`` in policy.yaml): loaded only when asked for.
    fixture: bool = False
    #: The folders whose files make the version: its own, after its base's for an amendment.
    folders: tuple[str, ...] = ()
    #: SHA-256 (hex) of the version's files (its folder: index with its derivations, source
    #: text, clauses, interpretations), of the facility profiles and of the JSON Schemas it was
    #: loaded with: what the decision log records as the policy that decided an event.
    content_hash: str = ""
    #: Profile fields derived at event time (policy.yaml ``derived``), in declared order.
    derived: tuple[Derivation, ...] = ()
    #: What each event type does to the subject's profile (policy.yaml ``profile_changes``);
    #: ``*`` is every type without an entry of its own.
    profile_changes: dict[str, ProfileChange] = field(default_factory=dict)
    #: The user types a facility that declares none exempts from recording and monitoring
    #: (policy.yaml ``facility_defaults.exempt_user_types``; clause R).
    default_exempt_user_types: tuple[str, ...] = ()

    def profile_change(self, event_type: str) -> ProfileChange | None:
        """The profile change an event type makes: its own entry, else that of ``*``."""
        return self.profile_changes.get(event_type) or self.profile_changes.get("*")

    def memory_readers(self, event_type: str) -> tuple[str, ...]:
        """The ids of the rules that an event of this type reaches and that read the subject's
        memory (``Rule.reads_memory``): the type's own rules first, then those of every type."""
        own = [r.id for r in self.rules if event_type in r.events and r.reads_memory]
        every = [r.id for r in self.rules if "*" in r.events and r.reads_memory]
        return tuple(own + every)

    def rule(self, rule_id: str) -> Rule | Override:
        """The rule or override with this id (KeyError if none)."""
        return self._by_id[rule_id]

    @property
    def enforcing(self) -> tuple[Rule | Override, ...]:
        """Every rule and override, in the documented order (clause, then id)."""
        return tuple(sorted(self.rules + self.overrides, key=lambda r: r.sort_key))

    @property
    def counted(self) -> str:
        """How many rules and overrides the version has, as every output and document states
        it: ``86 rules and 1 override`` (:func:`rules_counted`)."""
        return rules_counted(len(self.rules), len(self.overrides))

    def __post_init__(self):
        self._by_id = {r.id: r for r in self.rules + self.overrides}


@dataclass(frozen=True)
class Facility:
    """A correctional facility's configuration: the user types it exempts from recording and
    monitoring (clause R: "as defined by the correctional facilities"). A facility that lists
    none exempts what the policy version in force says (``default_exempt_user_types``)."""

    id: str
    name: str = ""
    exempt_user_types: tuple[str, ...] = ()


@dataclass
class Policy:
    """Every loaded version of a policy, oldest first; evaluation picks the one in force.
    ``facilities`` is configuration beside the policy, keyed by facility id; ``schemas`` the
    schema set its files and events are checked against (the policy owns it: no global)."""

    versions: tuple[PolicyVersion, ...]
    facilities: dict[str, Facility] = field(default_factory=dict)
    #: The JSON Schema set the policy was loaded with; events are validated against it.
    schemas: Any = None  # clauseline.events.validation.SchemaSet

    def __post_init__(self):
        if self.schemas is None:  # a policy built by hand validates with the shipped schemas
            from ..events.validation import SchemaSet
            self.schemas = SchemaSet()

    def facility(self, facility_id: str | None, version: PolicyVersion) -> Facility:
        """The configured facility, with the user types it exempts: its own, or where it lists
        none (or is not configured) those ``version`` exempts by default."""
        found = self.facilities.get(facility_id or "") or Facility(facility_id or "")
        if found.exempt_user_types:
            return found
        return Facility(found.id, found.name, version.default_exempt_user_types)

    def version_at(self, moment: datetime) -> PolicyVersion | None:
        """The version in force at ``moment``: the latest whose ``effective_from`` is not later."""
        chosen = None
        for version in self.versions:
            if version.effective_from <= moment:
                chosen = version
        return chosen

    def version_named(self, version_id: str | None) -> PolicyVersion | None:
        """The loaded version with this id (a decision's ``policy_version``), or None."""
        return next((v for v in self.versions if v.version == version_id), None)

    def forced(self, version_id: str) -> "Policy":
        """This policy with one version only, in force at every time (``--policy VERSION``).
        KeyError when no loaded version has that id."""
        version = self.version_named(version_id)
        if version is None:
            raise KeyError(version_id)
        always = replace(version, effective_from=datetime.min.replace(tzinfo=timezone.utc))
        return replace(self, versions=(always,))

    @property
    def latest(self) -> PolicyVersion:
        """The version that takes effect last."""
        return self.versions[-1]
