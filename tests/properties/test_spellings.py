"""Property 6: a card, bank account, routing or social security number comes out of no sink,
however it is spelled, and ordinary values are not masked.

The issue ("Reliability and security, round two"): other spellings of a number reached the
store, the export, the report and HTTP answers (card digits separated by an en or em dash,
U+2010, U+2212, U+FF0D, a middle dot, ``| : + * '``, a zero-width space, a word joiner, a soft
hyphen, four spaces; SSNs with ``,`` ``:`` or mixed separators; context words such as "S.S.N.",
"checking", "DDA", "RTN", "routing/transit", "account number is"; field names such as ``ssn1``,
``taxid``, ``accountnum``, ``bankacct``, ``acct``, ``rtn``, ``cc``; digits of other scripts).

Spellings are generated, not listed: a number of each kind is cut into its usual groups (or
not), the groups are joined by separators drawn from every class (ASCII punctuation, Unicode
dashes and spaces, format characters, up to four spaces; one separator throughout or a new one
at each gap), its digits are written in a script drawn per number or per digit (ASCII,
fullwidth, Arabic-Indic, Devanagari, Bengali, Thai, mathematical, superscript, circled), format
characters are slipped between digits, and it is placed after a word that names it (in one of
its spellings: ``S.S.N.``, ``ＳＳＮ``, ``routing/transit``, ``account number is`` ...), under a
field named for it (``ssn1``, ``bank_acct``, ``RTN`` ...), or in free text.

The property is checked twice: on the redaction functions alone (many examples, fast), and end
to end: the event is replayed into a SQLite store (``Session.replay``) and posted to the HTTP
service, and the number must be in none of: the replay's decision, ``explain`` and ``report``
texts of it, any row of any table of the store and the bytes of its file, the decision log as
``clauseline log export`` writes it, the HTML and CSV report of the store (``clauseline report
--db``), and the HTTP answers (``POST /v1/events``, ``GET /v1/decisions``, ``GET
/v1/subjects/...``). The scan is this file's own: it decodes JSON and HTML escapes, drops format
characters and combining marks, applies NFKC and reads every character with a digit value as
that digit, then removes up to four non-alphanumeric characters between two digits, so that the
number is found in any spelling the redaction could have let through.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import shutil
import tempfile
import unicodedata
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clauseline import Session, canonical
from clauseline.explain import describe, report
from clauseline.redact import Redactor, mask_numbers

from .conftest import (SENSITIVE, SLOW_FACTOR, _groups, bounded, database_texts, generator,
                       one_class, render_time, set_at, shared_policy)

# --- spellings ---------------------------------------------------------------------------------

#: Separators between two groups of digits, by class.
SEPARATORS = {
    "ascii": [" ", "  ", "   ", "    ", ".", ",", "-", "_", "/", "|", ":", "+", "*", "'", " - ",
              " / ", ". ", "--", "~", "#"],
    "dashes": ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\ufe63",
               "\uff0d", " \u2013 ", "\u2043"],
    "dots": ["\u00b7", "\u2022", "\u30fb", "\u2027", "\uff0e", "\u2024"],
    "spaces": ["\u00a0", "\u2002", "\u2003", "\u2009", "\u202f", "\u3000", "\u00a0\u00a0",
               "\u205f"],
    # format characters: invisible, so the digits on both sides read as one group
    "format": ["\u200b", "\u2060", "\u00ad", "\ufeff", "\u200c", "\u200d", "\u2062"],
    "mixed": ["-\u200b", "\u200b \u200b", "\u00ad-", "\u2013\u00a0"],
}
ALL_SEPARATORS = [s for group in SEPARATORS.values() for s in group]
#: The digit 0 of each script a number is written in (the other digits follow it).
SCRIPTS = {"ascii": "0", "fullwidth": "\uff10", "arabic-indic": "\u0660",
           "extended-arabic-indic": "\u06f0", "devanagari": "\u0966", "bengali": "\u09e6",
           "thai": "\u0e50", "mathematical-bold": "\U0001d7ce", "mathematical-monospace": "\U0001d7f6"}
#: Digits without a common zero: superscripts and circled digits.
SUPERSCRIPT = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
CIRCLED = "\u24ea\u2460\u2461\u2462\u2463\u2464\u2465\u2466\u2467\u2468"
#: Characters slipped between two digits inside a group.
FORMAT = ["\u200b", "\u2060", "\u00ad", "\ufeff", "\u0301", "\u20e3"]

#: Words before a number that name it, as a text writes them (spellings of the vocabulary).
CONTEXT = {
    "ssn": ["SSN", "ssn", "S.S.N.", "S.S.N", "SS#", "Social Security", "social security no.",
            "Soc. Sec. #", "SOCIAL SECURITY NUMBER", "Tax ID", "TIN", "taxpayer id",
            "\uff33\uff33\uff2e", "S\u200bSN", "ssn1"],
    "card": ["card", "Card number", "credit card no.", "debit card #", "CC", "PAN", "cc#",
             "card\u00a0number"],
    "bank_account": ["account", "acct", "Acct No.", "a/c", "checking", "Checking", "DDA",
                     "bank account number is", "account number is", "IBAN", "checking account #",
                     "savings account", "ACCT#", "bank acct"],
    "routing": ["routing", "Routing No.", "RTN", "ABA", "routing/transit", "Routing/Transit #",
                "transit number", "routing number is", "aba routing", "r\u200bouting"],
}
#: What stands between the word and the number.
JOINERS = [" ", ": ", " #", "=", " - ", ":\u00a0", " is ", "\u3000", " no. "]
#: Names of a field that holds such a number (spellings of the vocabulary); an extension
#: attribute takes the lower-case letters and digits of one.
FIELD_NAMES = {
    "ssn": ["ssn", "ssn1", "SSN_2", "taxid", "taxpayerId", "socialSecurityNumber", "primary_ssn",
            "tin", "social-security-no", "\uff53\uff53\uff4e"],
    "card": ["cc", "pan", "cardNumber", "card_no", "credit_card", "ccnum", "CC", "card-num",
             "debitCardNo"],
    "bank_account": ["accountnum", "bankacct", "acct", "bank_acct", "iban", "checking_account",
                     "acctNo", "dda", "BankAccountNumber", "acct_nbr"],
    "routing": ["rtn", "aba", "routing", "routingTransit", "routing/transit", "transit_no",
                "RTN", "aba_number"],
}


def extension_name(name: str) -> str:
    """The extension attribute name of a field name: its lower-case letters and digits."""
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKC", name).lower())[:20]


#: Words around a number in a free text, naming nothing.
FILLERS = ["", "note: ", "see ", "ref ", "on file ", "(", "\u00ab"]
AFTER = ["", " thanks", ".", ")", " \u2014 ok", "\u00bb"]

#: How each kind may be cut into groups (None: its usual groups, see conftest._groups).
GROUPINGS = {"card": [None, "whole"], "ssn": [None, "whole"], "routing": [None, "whole"],
             "bank_account": ["whole", (4, 4, 4, 4, 4), (3, 3, 3, 3, 3, 3)]}


def _cut(digits: str, sizes) -> list[str]:
    out, i = [], 0
    for size in sizes:
        if i >= len(digits):
            break
        out.append(digits[i:i + size])
        i += size
    if i < len(digits):
        out[-1] += digits[i:]
    return out


def _write_digit(d: str, script: str) -> str:
    value = ord(d) - 48
    if script == "superscript":
        return SUPERSCRIPT[value]
    if script == "circled":
        return CIRCLED[value]
    return chr(ord(SCRIPTS[script]) + value)


SCRIPT_NAMES = list(SCRIPTS) + ["superscript", "circled"]


@st.composite
def spellings(draw, kind: str, digits: str):
    """``(text, how, shaped)``: the number written in one spelling; ``shaped`` when its shape
    alone says what it is (a card, or an SSN in its 3-2-4 groups)."""
    grouping = draw(st.sampled_from(GROUPINGS[kind]))
    if grouping == "whole":
        groups = [digits]
    elif grouping is None:
        groups = _groups(kind, digits)
    else:
        groups = _cut(digits, grouping)
    per_digit = draw(st.booleans())
    script = draw(st.sampled_from(SCRIPT_NAMES))
    slip = draw(st.sampled_from([None, None] + FORMAT))
    written = []
    for group in groups:
        chars = []
        for d in group:
            chars.append(_write_digit(d, draw(st.sampled_from(SCRIPT_NAMES)) if per_digit else script))
            if slip is not None and draw(st.integers(0, 3)) == 0:
                chars.append(slip)
        written.append("".join(chars))
    same = draw(st.booleans())
    sep = draw(st.sampled_from(ALL_SEPARATORS))
    text, used = written[0], []
    for group in written[1:]:
        used.append(sep if same else draw(st.sampled_from(ALL_SEPARATORS)))
        text += used[-1] + group
    # a separator of format characters only is invisible: the groups on both sides read as one
    # (123\u200b45-6789 is 12345-6789), so such an SSN does not show its 3-2-4 shape
    shaped = kind == "card" or (kind == "ssn" and len(groups) == 3
                                and all(any(unicodedata.category(c) != "Cf" for c in u) for u in used))
    how = (f"groups {[len(g) for g in groups]}, script {'mixed' if per_digit else script}, "
           f"separator {'same' if same else 'mixed'}, slipped {slip!r}")
    return text, how, shaped


@st.composite
def planted(draw, kinds=tuple(SENSITIVE)):
    """``(kind, digits, spelled, how, shaped)``."""
    kind = draw(st.sampled_from(kinds))
    digits = draw(SENSITIVE[kind])
    spelled, how, shaped = draw(spellings(kind, digits))
    return kind, digits, spelled, how, shaped


@st.composite
def sentences(draw, kind: str, spelled: str, shaped: bool) -> str:
    """A free text holding the number: after a word naming it (always, when its shape does not
    say what it is)."""
    named = not shaped or draw(st.booleans())
    word = (draw(st.sampled_from(CONTEXT[kind])) + draw(st.sampled_from(JOINERS))) if named else ""
    return draw(st.sampled_from(FILLERS)) + word + spelled + draw(st.sampled_from(AFTER))


# --- the scan ----------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_BETWEEN_DIGITS = re.compile(r"(?<=[0-9])[\W_]{1,4}(?=[0-9])")


@lru_cache(maxsize=None)
def _seen(ch: str) -> str:
    if unicodedata.category(ch) in ("Cf", "Mn", "Me"):
        return ""
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        d = unicodedata.digit(c, None)
        out.append(str(d) if d is not None else c)
    return "".join(out)


def digit_view(text: str) -> str:
    """``text`` as a reader sees its digits: JSON and HTML escapes decoded, format characters and
    combining marks dropped, NFKC, every digit of any script as an ASCII digit, and what
    separates two digits (up to four characters that are not letters or digits) removed."""
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), html.unescape(text))
    text = "".join(c if c < "\x80" else _seen(c) for c in text)
    return _BETWEEN_DIGITS.sub("", text)


def leaks(outputs: dict[str, str], digits: str) -> dict[str, str]:
    """The outputs that hold ``digits`` in their :func:`digit_view`, with the stretch."""
    found = {}
    for where, text in outputs.items():
        view = digit_view(text)
        at = view.find(digits)
        if at >= 0:
            found[where] = view[max(0, at - 60): at + len(digits) + 20]
    return found


def test_the_scan_finds_every_spelling():
    """The scan itself: a number in the spellings the issue names is found (or the property
    could not fail)."""
    for text in ["4111\u20131111\u20141111\u22121111", "4111\uff0d1111\u00b71111|1111",
                 "4111\u200b1111\u20601111\u00ad1111", "4111    1111 : 1111+1111",
                 "\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661",
                 "\\u0664111111111111111", "&#52;111-1111-1111-1111", "\u2463\u2460" + "1" * 14]:
        assert leaks({"t": text}, "4111111111111111"), text


# --- the redaction functions alone --------------------------------------------------------------

REDACTOR = Redactor(b"spellings")


@bounded(300)
@given(number=planted(), data=st.data())
def test_every_spelling_in_a_text_is_reduced(number, data):
    kind, digits, spelled, how, shaped = number
    text = data.draw(sentences(kind, spelled, shaped), label="text")
    out = {"Redactor.scrub_text": REDACTOR.scrub_text(text), "mask_numbers": mask_numbers(text),
           "Redactor.scrub": json.dumps(REDACTOR.scrub({"note": text, "items": [text]}),
                                        ensure_ascii=False)}
    found = leaks(out, digits)
    assert not found, f"a {kind} number ({how}) in {text!r} comes out in {found}"


@bounded(300)
@given(number=planted(), data=st.data())
def test_every_spelling_under_a_named_field_is_reduced(number, data):
    kind, digits, spelled, how, _ = number
    name = data.draw(st.sampled_from(FIELD_NAMES[kind]), label="name")
    nested = data.draw(st.booleans(), label="nested")
    document = {"data": {"profile": {name: spelled}}} if nested else {name: spelled}
    stored = json.dumps(REDACTOR.scrub(document), ensure_ascii=False)
    event = json.dumps(REDACTOR.event({"specversion": "1.0", "id": "e", "source": "/s",
                                       "type": "t", "time": "2019-07-01T00:00:00Z",
                                       "data": {}, extension_name(name): spelled}),
                       ensure_ascii=False)
    found = leaks({"Redactor.scrub": stored, "Redactor.event": event}, digits)
    assert not found, f"a {kind} number ({how}) under {name!r} comes out in {found}"


# --- ordinary values stay readable ---------------------------------------------------------------

_INSTANTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31),
                         timezones=st.just(timezone.utc))


@st.composite
def ordinary_values(draw) -> str:
    """A value that is no sensitive number: an RFC 3339 time (or a date and a time of day), a
    UUID, an amount, a phone number of the policy's contact block, a short id."""
    contact = shared_policy().versions[0].contact
    choice = draw(st.sampled_from(["time", "date time", "clock", "uuid", "amount", "phone", "id"]))
    if choice == "time":
        return render_time(draw(_INSTANTS), draw(st.sampled_from([0, -300, 330, 545, -720])),
                           draw(st.sampled_from(["", "ms", "us", "ns"])), draw(st.booleans()))
    if choice == "date time":
        moment = draw(_INSTANTS)
        return moment.strftime(draw(st.sampled_from(["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                                                      "%d/%m/%Y %H:%M:%S", "%Y-%m-%d"])))
    if choice == "clock":
        return draw(_INSTANTS).strftime("%H:%M:%S")
    if choice == "uuid":
        return str(draw(st.uuids()))
    if choice == "amount":
        cents = draw(st.integers(0, 10**11))
        return draw(st.sampled_from(["USD ", "$", ""])) + f"{cents // 100:,}.{cents % 100:02d}"
    if choice == "phone":
        return draw(st.sampled_from(sorted(str(v) for v in contact.values())))
    return draw(st.sampled_from(["dr-", "msg-", "e-0x", "t-"])) + str(draw(st.integers(0, 99999)))


@bounded(300)
@given(values=st.lists(ordinary_values(), min_size=1, max_size=3),
       words=st.lists(st.sampled_from(["at", "on", "from", "to", "amount", "paid", "call", "id",
                                       "until", "and", "|", "-", ",", ";", "ref"]),
                      min_size=3, max_size=3))
def test_ordinary_values_stay_readable(values, words):
    text = " ".join(itertools.chain.from_iterable(zip(words, values)))
    assert REDACTOR.scrub_text(text) == text
    assert mask_numbers(text) == text
    assert REDACTOR.scrub({"note": text}) == {"note": text}


# --- end to end ------------------------------------------------------------------------------

#: Where a number is placed in an event; each is one test case.
PLACEMENTS = {
    "extension_text": "a free text in an extension attribute whose name says nothing (memo)",
    "data_text": "a free text member of data (a reason, a name, a purpose)",
    "extension_named": "an extension attribute named for the number (ssn1, bankacct, rtn, cc)",
    "data_named": "an unknown member of data named for the number (refused by the schema)",
    "payment_member": "the payment.made member the schemas name for the number",
}

_COUNTER = itertools.count()


def _free(node) -> bool:
    s = node.schema
    name = next((p for p in reversed(node.path) if isinstance(p, str)), "")
    return (isinstance(node.value, str) and "enum" not in s and "format" not in s
            and "pattern" in s and one_class(s["pattern"]) is not None
            and not name.endswith("_id") and name != "subject")


@st.composite
def events_with_a_number(draw, placement: str):
    gen = generator()
    kind, digits, spelled, how, shaped = draw(planted())
    event = draw(gen.event("payment.made" if placement == "payment_member" else None))
    event = dict(event, id=f"spell-{next(_COUNTER)}")
    if placement == "extension_text":
        event["memo"] = draw(sentences(kind, spelled, shaped))
    elif placement == "data_text":
        sites = [n for n in gen.nodes(event) if n.path[:1] == ("data",) and len(n.path) > 1
                 and _free(n)]
        assume(sites)
        event = set_at(event, draw(st.sampled_from(sites)).path, draw(sentences(kind, spelled, shaped)))
    elif placement == "extension_named":
        name = extension_name(draw(st.sampled_from(FIELD_NAMES[kind])))
        assume(name not in event)
        event[name] = spelled
    elif placement == "data_named":
        assume(isinstance(event.get("data"), dict))
        name = draw(st.sampled_from(FIELD_NAMES[kind]))
        assume(name not in event["data"])
        event = set_at(event, ("data",), dict(event["data"], **{name: spelled}))
    elif placement == "payment_member":
        member = {"card": "card_number", "bank_account": "account_number",
                  "routing": "routing_number", "ssn": "ssn"}[kind]
        event = set_at(event, ("data", member), spelled)
    else:  # pragma: no cover - PLACEMENTS and this function are kept in step
        raise AssertionError(placement)
    return event, kind, digits, how


class Service:
    """The HTTP service over a SQLite store of its own, with an admin key."""

    def __init__(self, folder: Path, policy):
        from fastapi.testclient import TestClient

        from clauseline.service import Settings, create_app
        from clauseline.service.keys import create_key
        from clauseline.store import open_store

        url = f"sqlite:///{folder / 'service.db'}"
        self.store = open_store(url)
        _, self.key = create_key(self.store, "spellings", ["admin"])
        self.client = TestClient(create_app(Settings(db=url), policy=policy, store=self.store),
                                 raise_server_exceptions=False)

    def answers(self, event: dict) -> dict[str, str]:
        auth = {"authorization": f"Bearer {self.key}"}
        out = {}
        posted = self.client.post("/v1/events", content=json.dumps(event, ensure_ascii=False),
                                  headers={"content-type": "application/cloudevents+json", **auth})
        out["HTTP POST /v1/events"] = posted.text
        if posted.status_code == 201:
            got = self.client.get("/v1/decisions", params={"source": event["source"],
                                                           "id": event["id"]}, headers=auth)
            out["HTTP GET /v1/decisions"] = got.text
            subject = event.get("subject")
            if isinstance(subject, str):
                out["HTTP GET /v1/subjects"] = self.client.get(f"/v1/subjects/{subject}",
                                                               headers=auth).text
        return out

    def close(self):
        self.client.close()
        self.store.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    made = Service(tmp_path_factory.mktemp("service"), shared_policy())
    try:
        yield made
    finally:
        made.close()


def sinks(template: Path, service: Service, event: dict) -> dict[str, str]:
    """Every output of one event: replay, explain, the store, its export, its report, HTTP."""
    from clauseline.report import obligations_csv, render_html, violations_csv
    from clauseline.store import open_store

    policy = shared_policy()
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clauseline.db"
        shutil.copyfile(template, path)
        store = open_store(f"sqlite:///{path}")
        try:
            (_, decision), = list(Session(policy, store).replay([json.dumps(event, ensure_ascii=False)]))
            out["replay: decision"] = decision.to_json()
            out["explain: describe"] = describe(decision, policy)
            out["explain: report"] = report(decision)
            logged = list(store.log())
            out["log export"] = "\n".join(canonical.dumps(r) for r in logged)
            records = [{"event": r["event"], "decision": r["decision"]} for r in logged]
            owed = store.owed()
            out["report --db (html)"] = render_html(records, policy=policy, obligations=owed,
                                                    chain=None, title="spellings")
            out["report --db --format csv: violations"] = violations_csv(records)
            out["report --db --format csv: obligations"] = obligations_csv(owed)
        finally:
            store.close()
        for where, text in database_texts(path).items():
            if where.startswith("file "):
                # read the file as UTF-8 too: a digit of another script is several bytes
                text = Path(folder, where[5:]).read_bytes().decode("utf-8", "replace")
            out[f"store: {where}"] = text
    out.update(service.answers(event))
    return out


def check(template, service, drawn):
    event, kind, digits, how = drawn
    found = leaks(sinks(template, service, event), digits)
    assert not found, (f"a {kind} number ({how}) comes out in: "
                       + json.dumps(found, ensure_ascii=False, indent=1))


@pytest.mark.parametrize("placement", list(PLACEMENTS))
@bounded(8)
@given(data=st.data())
def test_no_spelling_of_a_number_reaches_a_sink(store_template, service, placement, data):
    check(store_template, service, data.draw(events_with_a_number(placement), label="event"))


@pytest.mark.slow
@pytest.mark.parametrize("placement", list(PLACEMENTS))
@bounded(8 * SLOW_FACTOR)
@given(data=st.data())
def test_no_spelling_of_a_number_reaches_a_sink_longer(store_template, service, placement, data):
    check(store_template, service, data.draw(events_with_a_number(placement), label="event"))
