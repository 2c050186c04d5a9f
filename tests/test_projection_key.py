"""The matcher remembers what fired per projected fact under a key (``projection_key``) that
stands for the projection's JSON text without writing it: two facts with one key must have one
text, or a fact would be answered with what fired on another (1, 1.0 and true; 0.0 and -0.0;
an absent path and null; an object and an array, both shown empty)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clauseline.policy import load_policy
from clauseline.policy.compiler import project, projection_key
from clauseline.policy.matcher import fact_json

POLICY = load_policy()
MATCHER = POLICY.versions[-1].matcher
GROUPS = sorted(MATCHER.paths)

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    [0.0, -0.0, 1.0, 0.5, 1e-05, 1e300, 2.0 ** 53]), st.sampled_from(["", "1", "true", "a", "null"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2)),
    max_leaves=4)


@st.composite
def facts(draw, group: str) -> dict:
    """A fact with a value, or nothing, or a scalar on the way, at each path the group tests."""
    fact: dict = {}
    for _, steps in MATCHER.paths[group]:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue  # absent
        node = fact
        for step in steps[:-1]:
            if choice == 1 and draw(st.booleans()):
                node[step] = draw(SCALARS)  # a scalar where an object was expected
                break
            node = node.setdefault(step, {}) if isinstance(node.get(step, {}), dict) else None
            if node is None:
                break
        else:
            node[steps[-1]] = draw(VALUES)
    return fact


#: values Python finds equal, or JSON shows alike, or both
CONFUSABLE = [1, 1.0, True, 0, 0.0, -0.0, False, None, "1", "", {}, [], {"a": 1}, [1], 2.0 ** 53,
              2 ** 53, 1e-05]


@settings(max_examples=80, deadline=None)
@given(group=st.sampled_from(GROUPS), data=st.data())
def test_one_key_is_one_text(group, data):
    """Facts that differ at one path by two confusable values: the same key only where the
    same text (each group's real paths, the rest of the fact drawn at random)."""
    paths = MATCHER.paths[group]
    base = data.draw(facts(group))
    steps = data.draw(st.sampled_from([s for _, s in paths]))
    variants = []
    for value in data.draw(st.lists(st.sampled_from(CONFUSABLE), min_size=2, max_size=6)):
        fact = dict(base)
        node = fact
        for step in steps[:-1]:  # a fresh object on the way, so that the path is present
            node[step] = dict(node[step]) if isinstance(node.get(step), dict) else {}
            node = node[step]
        node[steps[-1]] = value
        variants.append(fact)
    texts: dict = {}
    for fact in variants + [base]:
        key = projection_key(fact, paths)
        assert MATCHER.key_of(group)(fact) == key  # the matcher's compiled key, the same
        text = fact_json(project(fact, paths))
        assert texts.setdefault(key, text) == text, (key, texts[key], text)


def test_values_that_python_finds_equal_are_told_apart():
    paths = (("x", ("x",)),)
    keys = {projection_key({"x": v}, paths) for v in (1, 1.0, True, 0, 0.0, -0.0, False, None)}
    keys |= {projection_key({}, paths), projection_key({"x": {}}, paths),
             projection_key({"x": []}, paths), projection_key({"x": "1"}, paths)}
    assert len(keys) == 12
    assert projection_key({"x": {"deep": 1}}, paths) == projection_key({"x": {}}, paths)


def test_any_path_text_is_a_literal_of_the_compiled_key():
    """Rule files are data: a path is written into the compiled key as a string literal,
    whatever it holds (quotes, backslashes, a line break, a lone surrogate, code)."""
    from clauseline.policy.compiler import key_function, split_paths
    names = ["a'b", 'a"b', "a\\b", "a\nb", "\ud800", "x'); import os; os._exit(3); ('", "é"]
    paths = split_paths([f"{n}.{m}" for n in names for m in names[:2]] + names)
    fact = {n: {m: i for i, m in enumerate(names)} for n in names[:3]}
    fact.update({names[3]: 1.5, names[4]: [], names[5]: "v"})
    assert key_function(paths)(fact) == projection_key(fact, paths)
    assert projection_key(fact, paths).count(projection_key({}, (("x", ("x",)),))[0]) > 0
