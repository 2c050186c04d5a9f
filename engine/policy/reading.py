"""Reading the files of a policy (rules, index, interpretations, facilities, scenarios, its text).

Line numbers are kept (ruamel.yaml's round-trip mode) so that every problem names its file, line
and key; duplicate keys are errors; a document is checked against its JSON Schema with every
error reported at once.

A rules folder is input like any other, so reading is bounded and never leaves the folder
(docs/rule-format.md, "Limits"): a file is opened only when it is a regular file that lies, once
every symbolic link is followed, inside the folders it may come from, and never blocks (a FIFO is
refused before it is opened, and opened without blocking if it appears in between); its size is
checked before it is read and its text before it is parsed (UTF-8, no control, line-separator
or bidirectional-formatting characters, no line longer than :data:`MAX_LINE_CHARS`); YAML takes
no tags and no anchor twice, and the document it describes, with every alias expanded, has at
most :data:`MAX_NODES` nodes nested at most :data:`MAX_DEPTH` deep (so that a billion-laughs file
costs what its text costs). Every refusal is a located :class:`~clauseline.errors.Problem`.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import pickle
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ruamel.yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, ScalarEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from ..errors import Problem
from ..events.validation import SchemaSet

if TYPE_CHECKING:  # python-jsonschema is imported where an error is explained
    from jsonschema.exceptions import ValidationError

#: The largest YAML file of a policy (a rule file, the index, interpretations, facilities), in
#: bytes. ruamel.yaml's pure-Python parser reads 100 to 250 KiB a second (and some shapes, such
#: as long runs of comment lines, in time that grows with their square): with :data:`MAX_NODES`,
#: the slowest file found at this size takes about a second. A large clause spreads its rules
#: over several files (``clauses/U.yaml``, ``clauses/U-requests.yaml``, ...).
MAX_YAML_BYTES = 256 * 1024
#: The largest policy text (``source.md``), in bytes.
MAX_TEXT_BYTES = 1024 * 1024
#: The longest line of a YAML file, in characters.
MAX_LINE_CHARS = 10_000
#: The most nodes (mappings, lists, scalars, keys included) a YAML document may describe, every
#: alias counted as the nodes it stands for.
MAX_NODES = 25_000
#: The deepest nesting of a YAML document (the document itself is level 1), aliases expanded.
MAX_DEPTH = 32

#: Characters a policy file may not hold, in its text or in a value written with an escape
#: (``"\u202e"``): C0 controls but tab, line feed and carriage return; DEL and C1 controls; the
#: line and paragraph separators; bidirectional formatting (marks, embeddings, overrides,
#: isolates: they make text read differently from what it holds); the byte order mark past the
#: start; surrogates (``"\ud800"``: no UTF-8 can carry one); the non-characters U+FFFE, U+FFFF.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                       "\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufeff\ufffe\uffff]")
_CHARACTER_KINDS = (("\x00", "NUL"), ("\x01-\x1f", "a control character"),
                    ("\x7f-\x9f", "a control character"), ("\u2028\u2029", "a line separator"),
                    ("\ud800-\udfff", "a surrogate"), ("\ufeff", "a byte order mark"),
                    ("\ufffe\uffff", "a non-character"))
#: An explicit tag YAML allows without meaning anything (``! text``); every other tag is refused.
_NON_SPECIFIC_TAG = "!"
_SHOWN = 60


def shown(value: Any, limit: int = _SHOWN) -> str:
    """``repr(value)``, cut to about ``limit`` characters: messages never quote a long value."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _located(text: str | bytes, index: int) -> tuple[int, int]:
    """1-based line and column of ``index`` in ``text``."""
    newline = "\n" if isinstance(text, str) else b"\n"
    line = text.count(newline, 0, index) + 1
    return line, index - (text.rfind(newline, 0, index) + 1) + 1


def _character(char: str) -> str:
    """``U+XXXX (what it is)`` for a character :data:`_NOT_TEXT` refuses."""
    kind = next((name for chars, name in _CHARACTER_KINDS if re.match(f"[{chars}]", char)),
                "a bidirectional formatting character")
    return f"U+{ord(char):04X} ({kind})"


def _inside(real: str, folders: Iterable[str]) -> bool:
    return any(real == folder or real.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders)


def real_folders(folders: Iterable[Path | str]) -> tuple[str, ...]:
    """The folders as :func:`read_text` compares them (every symbolic link followed)."""
    return tuple(os.path.realpath(folder) for folder in folders)


def leaves(path: Path, folders: Iterable[str]) -> bool:
    """Whether ``path``, every symbolic link followed, lies outside all of ``folders`` (as
    :func:`real_folders` gives them). A name no file can have (a NUL in it) lies nowhere."""
    try:
        return not _inside(os.path.realpath(path), folders)
    except (ValueError, OSError):
        return True


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_bytes(path: Path, display: str, *, inside: Iterable[str] | None = None,
               limit: int = MAX_YAML_BYTES) -> tuple[bytes | None, list[Problem]]:
    """The bytes of one file of a policy, or ``(None, problems)`` saying why it is not read.

    ``inside`` (folders as :func:`real_folders` gives them) is where the file must lie once every
    symbolic link is followed; a file elsewhere is not opened, and nothing of it is quoted. Only
    a regular file is opened (never a FIFO, a device or a folder), without blocking; more than
    ``limit`` bytes are never read.
    """

    def refused(code: str, message: str) -> tuple[None, list[Problem]]:
        return None, [Problem(code, message, file=display)]

    try:
        real = os.path.realpath(path)
    except (ValueError, OSError):  # a NUL in the name
        return refused("unreadable_file", "no file can have this name")
    if inside is not None and not _inside(real, inside):
        return refused("unreadable_file", "a symbolic link leading outside the rules folder: "
                       "it is not followed")
    try:
        before = os.stat(real)
    except OSError as error:
        return refused("unreadable_file", f"cannot be read: {error.strerror or error}")
    if not stat.S_ISREG(before.st_mode):
        return refused("unreadable_file", f"{_kind_of(before.st_mode)}, not a regular file: "
                       "it is not read")
    if before.st_size > limit:
        return refused("too_large", f"{before.st_size:,} bytes; a policy file holds at most "
                       f"{limit:,}")
    try:
        # O_NONBLOCK: a FIFO put in its place since the stat above does not block the open;
        # O_NOFOLLOW: nor is a symbolic link put in its place followed
        handle = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        return refused("unreadable_file", f"cannot be read: {error.strerror or error}")
    try:
        opened = os.fstat(handle)
        if not stat.S_ISREG(opened.st_mode):
            return refused("unreadable_file", f"{_kind_of(opened.st_mode)}, not a regular file: "
                           "it is not read")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(handle, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        return refused("unreadable_file", f"cannot be read: {error.strerror or error}")
    finally:
        os.close(handle)
    if size > limit:  # it grew since the stat above
        return refused("too_large", f"over {limit:,} bytes; a policy file holds at most {limit:,}")
    return b"".join(chunks), []


def read_text(path: Path, display: str, *, inside: Iterable[str] | None = None,
              limit: int = MAX_YAML_BYTES, max_line: int | None = None) -> tuple[str | None, list[Problem]]:
    """The text of one file of a policy, or ``(None, problems)`` saying why it is not read: read
    as :func:`read_bytes` reads it, it must be UTF-8 without the characters a policy file may
    not hold (see the module docstring) and, with ``max_line``, without a longer line."""
    data, problems = read_bytes(path, display, inside=inside, limit=limit)
    if data is None:
        return None, problems

    def refused(code: str, message: str, line: int) -> tuple[None, list[Problem]]:
        return None, [Problem(code, message, file=display, line=line)]

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _located(data, error.start)
        return refused("unreadable_file", f"not UTF-8 text: byte 0x{data[error.start]:02X} at "
                       f"column {column} cannot be decoded ({error.reason})", line)
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark at the start is allowed, and dropped
    bad = _NOT_TEXT.search(text)
    if bad:
        line, column = _located(text, bad.start())
        return refused("unreadable_file", f"column {column}: {_character(bad.group())} is not "
                       "allowed in a policy file", line)
    if max_line is not None:
        for number, line_text in enumerate(text.split("\n"), 1):
            if len(line_text) > max_line:
                return refused("too_large", f"a line of {len(line_text):,} characters; a line "
                               f"holds at most {max_line:,}", number)
    return text, []


class _Refused(MarkedYAMLError):
    """A YAML document refused while it is composed or constructed, with the code to report."""

    def __init__(self, code: str, problem: str, mark: Any):
        super().__init__(problem=problem, problem_mark=mark)
        self.code = code


class _BoundedComposer(Composer):
    """ruamel.yaml's composer, refusing tags, a second anchor of one name, a recursive alias,
    and documents that expand (aliases counted as what they stand for) past :data:`MAX_NODES`
    nodes or :data:`MAX_DEPTH` levels. It stops at the first node past a limit, so that the
    parser never reads further."""

    def compose_document(self) -> Any:
        #: id of each node composed -> (nodes it expands to, levels it spans)
        self._measures: dict[int, tuple[int, int]] = {}
        self._nodes = 0
        self._level = 0  # of the node being composed (ruamel's own depth check is newer than 0.18)
        return super().compose_document()

    def _grow(self, nodes: int, mark: Any) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            raise _Refused("too_large", f"the document describes more than {MAX_NODES:,} nodes "
                           "(aliases counted as what they stand for)", mark)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                measure = self._measures.get(id(target))
                if measure is None:
                    raise _Refused("yaml_syntax", f"alias *{event.anchor} stands for a node that "
                                   "contains it (a recursive structure)", event.start_mark)
                self._grow(measure[0], event.start_mark)
                if self._level + measure[1] > MAX_DEPTH:
                    raise _Refused("too_deep", f"alias *{event.anchor} nests the document deeper "
                                   f"than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)  # an undefined alias: ruamel's error
        if getattr(event, "anchor", None) is not None and event.anchor in self.anchors:
            first = self.anchors[event.anchor].start_mark.line + 1
            raise _Refused("yaml_syntax", f"anchor &{event.anchor} is defined twice (first on "
                           f"line {first})", event.start_mark)
        tag = getattr(event, "ctag", None)
        if tag is not None and str(tag) != _NON_SPECIFIC_TAG:
            raise _Refused("yaml_syntax", f"tag {shown(str(tag))} is not allowed: policy files "
                           "hold plain data (text, numbers, booleans, lists and mappings)",
                           event.start_mark)
        value = event.value if isinstance(event, ScalarEvent) else ""
        if value and event.style == ">":  # ruamel marks the folds of a folded scalar with BEL
            value = value.replace("\a", "")
        bad = _NOT_TEXT.search(value)
        if bad:
            raise _Refused("invalid_value", f"a value holds {_character(bad.group())}, written "
                           "with an escape: policy files hold none", event.start_mark)
        self._grow(1, event.start_mark)
        if self._level >= MAX_DEPTH:
            raise _Refused("too_deep", f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._level += 1
        node = super().compose_node(parent, index)
        self._level -= 1
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        measures = [self._measures[id(child)] for child in children]
        self._measures[id(node)] = (1 + sum(m[0] for m in measures),
                                    1 + max((m[1] for m in measures), default=0))
        return node


class _Constructor(RoundTripConstructor):
    """ruamel.yaml's round-trip constructor, with a located error for a scalar that looks like
    a number or a date but is not one (``2019-02-30``, an integer of 5,000 digits)."""


def _locating(kind: str, construct):
    def wrapped(self, node, *args):
        try:
            return construct(self, node, *args)
        except (ValueError, OverflowError, ArithmeticError) as error:
            raise _Refused("yaml_syntax", f"a value that reads as {kind} cannot be one: "
                           f"{str(error)[:120]}", node.start_mark) from None
    return wrapped


for _kind, _article in (("int", "an integer"), ("float", "a number"), ("timestamp", "a date")):
    _tag = f"tag:yaml.org,2002:{_kind}"
    _Constructor.add_constructor(_tag, _locating(_article, RoundTripConstructor.yaml_constructors[_tag]))
del _kind, _article, _tag


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Composer = _BoundedComposer
    yaml.Constructor = _Constructor
    return yaml


#: Parsed policy files are kept, by the SHA-256 of their text (and of this module and ruamel.yaml's
#: version), in ``$CLAUSELINE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/clauseline/yaml``, else
#: ``~/.cache/clauseline/yaml``; ``off`` or empty: no cache on disk): ruamel.yaml's parser takes
#: about 0.3 s of a policy's load, an unpickling 0.01 s, which every process that loads the policy
#: (a CLI command, a consumer, a worker) pays. Only a file this user owns, in a folder no one else
#: may write, is read back; a text that is refused is never kept, and anything unreadable is
#: parsed again. The same text always parses to the same document, so the cache changes nothing
#: but time.
CACHE_ENV = "CLAUSELINE_CACHE_DIR"
_CACHE_SALT = hashlib.sha256(Path(__file__).read_bytes()
                             + ruamel.yaml.__version__.encode()).hexdigest()[:16]
_MEMO: dict[str, bytes] = {}  # this process's: the key -> the pickled document


def _cache_dir() -> Path | None:
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) if configured.strip() and configured != "off" else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clauseline" / "yaml"


def _private(path: Path) -> bool:
    """Whether ``path`` is this user's and no one else may write it."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _parsed(text: str) -> Any:
    """The document of a YAML text (raises as the parser does), through the cache above."""
    key = hashlib.sha256(f"{_CACHE_SALT}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
    folder = _cache_dir()
    blob = _MEMO.get(key)
    if blob is None and folder is not None and _private(folder) and _private(folder / key):
        try:
            blob = (folder / key).read_bytes()
        except OSError:
            blob = None
    if blob is not None:
        try:
            return pickle.loads(blob)
        except Exception:  # noqa: BLE001 - a damaged entry: parsed again, and replaced
            blob = None
    doc = _yaml().load(text)
    if _holds_a_time(doc):
        # ruamel.yaml keeps how a timestamp was written (its ``Z``, its digits) on the object,
        # which pickling drops (datetime pickles its value alone): never kept, so a scenario's
        # unquoted times read back exactly as written
        return doc
    try:
        blob = pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - nothing that cannot be kept is kept
        return doc
    _MEMO[key] = blob
    if folder is not None:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if _private(folder):
                handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
                with os.fdopen(handle, "wb") as out:
                    out.write(blob)
                os.replace(temporary, folder / key)  # whole or not at all, for readers at once
        except OSError:
            pass  # a read-only home: parsed each time, as before
    return doc


def _holds_a_time(doc: Any) -> bool:
    """Whether a parsed document holds a date or a time (an unquoted YAML timestamp)."""
    stack, seen = [doc], set()
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen:  # an alias: walked already
                continue
            seen.add(id(node))
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, (datetime.date, datetime.time)):
            return True
    return False


def read_yaml(path: Path, display: str, inside: Iterable[str] | None = None) -> tuple[Any, list[Problem]]:
    """Parse one YAML file keeping line numbers; every refusal is located (see the module
    docstring): ``(doc, [])``, ``(None, [])`` for an empty document, or ``(None, problems)``."""
    text, problems = read_text(path, display, inside=inside, limit=MAX_YAML_BYTES,
                               max_line=MAX_LINE_CHARS)
    if text is None:
        return None, problems
    try:
        return _parsed(text), []
    except _Refused as error:
        return None, [Problem(error.code, error.problem, file=display, line=error.problem_mark.line + 1)]
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = str(error.problem or error.context or "not valid YAML").strip()
        code = "duplicate_key" if "duplicate key" in problem else "yaml_syntax"
        if code == "yaml_syntax" and error.problem and error.context:
            problem = f"{str(error.context).strip()}, {problem}"
        return None, [Problem(code, problem[:300], file=display, line=line)]
    except YAMLError as error:  # e.g. a reader error: no mark, perhaps a position
        position = getattr(error, "position", None)
        line = _located(text, position)[0] if isinstance(position, int) else None
        return None, [Problem("yaml_syntax", str(error).splitlines()[0][:300], file=display, line=line)]


def read_checked(path: Path, display: str, schemas: SchemaSet, schema_id: str,
                 inside: Iterable[str] | None = None) -> tuple[Any, list[Problem]]:
    """Read a YAML file and check it against a schema: ``(doc, [])`` or ``(None, problems)``.
    An empty file is a problem too (every file of a policy holds a mapping)."""
    doc, problems = read_yaml(path, display, inside)
    if problems:
        return None, problems
    if doc is None:
        return None, [Problem("invalid_value", "the file holds no YAML document; it must hold a "
                              "mapping", file=display, line=1)]
    problems = schema_problems(schemas, schema_id, doc, display)
    return (None if problems else doc), problems


def plain(node: Any) -> Any:
    """A YAML document as plain dicts, lists and scalars (for schema validation and the model)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def native(node: Any) -> Any:
    """A :func:`plain` document with ruamel.yaml's scalar subclasses (a folded string, a float
    that remembers its digits) as the built-in types they extend, which jsonschema-rs reads."""
    if isinstance(node, dict):
        return {k: native(v) for k, v in node.items()}
    if isinstance(node, list):
        return [native(v) for v in node]
    kind = type(node)
    if kind is str or kind is int or kind is float or kind is bool or node is None:
        return node
    for base in (str, float, int):  # bool cannot be subclassed: a bool is caught above
        if isinstance(node, base):
            return base(node)
    return node


def line_of(root: Any, path: list, key: str | None = None) -> int | None:
    """The 1-based line of the node at ``path`` (or of ``key`` inside it)."""
    node, line = root, None
    for step in path:
        if isinstance(node, CommentedMap) and step in node:
            line = node.lc.key(step)[0] + 1
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
            line = node.lc.item(step)[0] + 1
            node = node[step]
        else:
            break
    if key is not None and isinstance(node, CommentedMap) and key in node:
        return node.lc.key(key)[0] + 1
    if line is None and hasattr(node, "lc"):
        line = node.lc.line + 1
    return line


def dotted_key(path: list) -> str:
    """A key path as text: ``rules[2].when.match``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def condition_operators(branches: list) -> list[str]:
    """The operator names a rule-file condition accepts, read from the schema's ``oneOf``
    branches (so that messages list exactly what the schema allows)."""
    return [name for branch in branches if isinstance(branch, dict)
            for name in (branch.get("properties") or {})]


def schema_problems(schemas: SchemaSet, schema_id: str, doc: Any, display: str) -> list[Problem]:
    """Every schema error of a document read by :func:`read_yaml`, with file, line and key.

    jsonschema-rs answers first (a valid document, the usual case, in a fraction of the time:
    about 0.2 s of every policy load before); python-jsonschema lists and explains the errors,
    and has the last word, as for events (:meth:`SchemaSet.problems`)."""
    instance = plain(doc)
    fast = schemas.fast(schema_id)
    try:
        if fast is not None and fast.is_valid(native(instance)):
            return []
    except ValueError:  # a value jsonschema-rs cannot read (a date): python-jsonschema judges
        pass
    out = []
    for error in schemas.validator(schema_id).iter_errors(instance):
        out.extend(_explain(error, doc, display))
    out.sort(key=lambda p: (p.line or 0, p.key or "", p.code))
    return out


def _message(error: ValidationError) -> str:
    """jsonschema's message, with the value it quotes cut short (a whole file can be the value)."""
    text = error.message
    whole = repr(error.instance)
    if len(whole) > _SHOWN and whole in text:
        text = text.replace(whole, shown(error.instance), 1)
    return text if len(text) <= 300 else text[:299] + "\u2026"


def _explain(error: ValidationError, doc: Any, display: str) -> list[Problem]:
    path = list(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        known = set(error.schema.get("properties", {}))
        extras = sorted(k for k in error.instance if k not in known)
        return [Problem("unknown_field",
                        f"unknown key {shown(k)}; expected one of: {', '.join(sorted(known))}",
                        file=display, line=line_of(doc, path, k), key=dotted_key(path + [k]))
                for k in extras]
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [Problem("missing_field", f"required key {k!r} is missing", file=display,
                        line=line_of(doc, path), key=dotted_key(path + [k])) for k in missing]
    if error.validator == "oneOf" and error.context:
        in_match = "match" in path or "match_any" in path
        from jsonschema.exceptions import best_match
        deepest = best_match(error.context)
        if in_match:
            message = ("a condition is a scalar (equality) or an object of one or more operators (all must "
                       "hold), each one operator of: "
                       + ", ".join(condition_operators(error.validator_value)) + "; got "
                       + shown(plain(error.instance), 200))
            return [Problem("bad_condition", message, file=display, line=line_of(doc, path),
                            key=dotted_key(path))]
        return _explain(deepest, doc, display)
    code = "bad_condition" if "match" in path else "invalid_value"
    # a document that is not a mapping at all is wrong from its first line
    line = line_of(doc, path) or (1 if not path else None)
    return [Problem(code, _message(error), file=display, line=line, key=dotted_key(path))]
