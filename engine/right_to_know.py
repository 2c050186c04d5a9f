"""The CCPA right-to-know document (clause U, issue 26): what a store holds about one subject for
the 12 months before a request's receipt, built from the store's decision log.

Clause U owes a California resident "the categories of information collected, the categories
of sources from which personal information is collected, the business or commercial purpose for
collecting or selling any personal information, categories of third parties with whom we share
your information, categories of your information sold or disclosed for any business purpose,
and the specific pieces of information we have collected about you", covering "the 12-month
period preceding Securus's receipt of the verifiable request". :func:`build` reads a store's log
(one read transaction) and :func:`assemble` turns its records into that document; every item
names the records it comes from (event source, id and the decision's ``seq``), so an auditor can
check it against ``clauseline log export``. The same records and request always give the same
bytes (:func:`dumps`): no wall clock, sorted keys and lists. :func:`digest` is the SHA-256 of
the canonical JSON of the document without its ``digest`` member, the value a
``ccpa.response.prepared`` event records and a ``ccpa.response.delivered`` may carry.

The readings this module applies (what a source is, what a denied disclosure contributes, what
a reduced card number shows, other people's information, which events are about the subject,
the period's ends) are recorded as interpretations ``u.right-to-know-*`` in
``rules/securus-2019-05-04/interpretations/U.yaml`` and described in ``docs/right-to-know.md``.
Nothing here does I/O but the one read of :func:`build`.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from typing import Any, Iterable

from . import canonical
from .errors import OneProblem
from .eventtime import TimePrecisionError, add_months, format_time, parse_time
from .redact import mask_strings, quote

#: What the document says it is (``document``) and the version of its shape.
DOCUMENT = "clauseline.right-to-know"
DOCUMENT_VERSION = 1
#: The ``source`` of the ``ccpa.response.prepared`` event ``--record`` submits.
PREPARED_SOURCE = "/clauseline/right-to-know"
PREPARED_TYPE = "ccpa.response.prepared"
#: The readings this document applies (interpretations of clause U).
READINGS = ("u.disclosure-period", "u.right-to-know-about-the-subject", "u.right-to-know-sources",
            "u.right-to-know-denied-disclosures", "u.right-to-know-reduced-numbers",
            "u.right-to-know-other-people")

#: Events whose data is not a piece of information collected about the subject: the CCPA cycle
#: itself (the request the document answers), requests to disclose (reported as disclosures) and
#: events about nobody.
NOT_PIECES = frozenset({"clock.tick", "policy.changed", "disclosure.requested",
                        "ccpa.request.filed", "ccpa.request.extended", "ccpa.request.verified",
                        "ccpa.response.delivered", PREPARED_TYPE})
#: The category of a data field, by its key (a key that is a category names itself).
FIELD_CATEGORIES = {
    "birth_date": "date_of_birth", "residence": "location", "location": "location",
    "role": "account_info", "user_type": "account_info",
    "parental_consent_verified": "account_info",
    "cookies": "browsing_history", "dnt": "browsing_history",
}
#: The category of a type's other fields.
TYPE_CATEGORIES = {
    "account.opened": "account_info", "profile.updated": "account_info",
    "payment.made": "money_transfer", "call.recorded": "call_details",
    "svv.session.recorded": "video", "website.visited": "browsing_history",
    "cookie.preference.changed": "browsing_history", "child.identified": "account_info",
}
#: The category of a number the store keeps reduced (``{"redacted": KIND, ...}``).
REDUCED_CATEGORIES = {"card": "credit_card", "ssn": "ssn", "bank_account": "bank_account",
                      "routing": "bank_account"}
CATEGORIES = frozenset({
    "name", "date_of_birth", "ssn", "email", "mailing_address", "phone", "credit_card",
    "debit_card", "bank_account", "location", "voice", "video", "call_details", "account_info",
    "account_history", "device_id", "mac_address", "ip_address", "browsing_history",
    "money_transfer"})
#: Event types whose ``data.channel`` is the channel the information was collected through
#: (elsewhere a channel is where something is sent: a message, a response).
CHANNEL_TYPES = frozenset({"account.opened"})
#: Lists of the people an event names (call parties, SVV participants).
PEOPLE_KEYS = frozenset({"parties", "participants"})
REDUCED_NOTE = ("the store keeps only a reduced form of this number (its kind and at most its "
                "last four digits); the full number is not kept (clause C)")
_HMAC_IN_TEXT = re.compile(r" hmac:[0-9a-f]{16}\]")


class RightToKnowError(OneProblem):
    """The document cannot be built: no such subject or request, or a bad time. ``code`` is
    one of ``right_to_know.subject_not_found``, ``right_to_know.request_not_found``,
    ``right_to_know.no_request``, ``right_to_know.invalid_time``."""


@dataclass(frozen=True)
class Period:
    """The period a document covers: ``start`` inclusive, ``end`` exclusive, as instants."""

    start: Any
    end: Any

    def covers(self, moment) -> bool:
        return self.start <= moment < self.end

    def as_dict(self) -> dict:
        return {"from": format_time(self.start), "to": format_time(self.end)}


def period_before(end_text: str) -> Period:
    """The 12 calendar months before ``end_text`` (RFC 3339): reading ``u.disclosure-period``."""
    end = parse_time(end_text)
    return Period(add_months(end, -12), end)


def checked_time(text: Any, what: str = "--at") -> str:
    """``text`` if it is an RFC 3339 time with offset that can end a 12-month period, else
    :class:`RightToKnowError` ``right_to_know.invalid_time`` (the value quoted only when short
    and safe: docs/errors.md)."""
    try:
        period_before(text)
    except TimePrecisionError as error:
        raise RightToKnowError("right_to_know.invalid_time", f"{what}: {error}") from None
    except (ValueError, TypeError, OverflowError):
        raise RightToKnowError(
            "right_to_know.invalid_time",
            f"{what} {quote(text)} is not an RFC 3339 time with offset (from the year 2 on), "
            "e.g. 2019-08-15T00:00:00Z") from None
    return text


def about(event: dict, subject: str) -> bool:
    """Whether an event is about ``subject``: its envelope subject, or a party or participant
    it names (reading ``u.right-to-know-about-the-subject``)."""
    if event.get("subject") == subject:
        return True
    data = event.get("data")
    if not isinstance(data, dict):
        return False
    for key in PEOPLE_KEYS:
        people = data.get(key)
        if isinstance(people, list) and any(isinstance(p, dict) and p.get("subject") == subject
                                            for p in people):
            return True
    return False


def _ref(record: dict) -> dict:
    event = record["event"]
    return {"source": event.get("source"), "id": event.get("id"), "seq": record["seq"]}


def _ref_key(ref: dict) -> tuple:
    return (ref["seq"], ref.get("rule") or "")


def _refs(refs: Iterable[dict]) -> list[dict]:
    unique = {canonical.dumps(r): r for r in refs}
    return sorted(unique.values(), key=_ref_key)


def _shown(value: Any) -> Any:
    """A stored value as the document shows it: a reduced number without the store's HMAC
    (a per-store token, of no use to the consumer), every string's numbers masked."""
    if isinstance(value, dict) and "redacted" in value:
        return {k: value[k] for k in ("redacted", "last4") if k in value}
    if isinstance(value, str):
        return mask_strings(_HMAC_IN_TEXT.sub("]", value))
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _category_of(key: str, default: str) -> str:
    if key in CATEGORIES:
        return key
    return FIELD_CATEGORIES.get(key, default)


def _pointer_part(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def pieces_of(event: dict, subject: str) -> list[tuple[str, str, Any, str | None]]:
    """(category, JSON Pointer, value as shown, note) of each piece of information about
    ``subject`` in an event's data: its leaves, other people's entries left out (reading
    ``u.right-to-know-other-people``), reduced numbers shown reduced with a note (reading
    ``u.right-to-know-reduced-numbers``)."""
    if event.get("type") in NOT_PIECES:
        return []
    default = TYPE_CATEGORIES.get(event.get("type"), "account_history")
    if event.get("type") == "payment.made":
        instrument = (event.get("data") or {}).get("instrument")
        card = instrument if instrument in ("credit_card", "debit_card") else "credit_card"
    else:
        card = "credit_card"
    out: list[tuple[str, str, Any, str | None]] = []

    def walk(node: Any, pointer: str, category: str, key: str | None) -> None:
        if isinstance(node, dict) and "redacted" in node:
            kind = REDUCED_CATEGORIES.get(node.get("redacted"), category)
            out.append((card if kind == "credit_card" else kind, pointer, _shown(node),
                        REDUCED_NOTE))
        elif isinstance(node, dict):
            for k in sorted(node):
                if k == "collected" and pointer == "/data":
                    continue  # the categories themselves: categories_collected
                walk(node[k], f"{pointer}/{_pointer_part(k)}", _category_of(k, category), k)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if key in PEOPLE_KEYS and not (isinstance(item, dict)
                                               and item.get("subject") == subject):
                    continue  # another person: never disclosed to this subject
                walk(item, f"{pointer}/{i}", category, key)
        else:
            shown = _shown(node)
            note = REDUCED_NOTE if isinstance(node, str) and shown != node or (
                isinstance(node, str) and "[redacted " in node) else None
            out.append((category, pointer, shown, note))

    data = event.get("data")
    if isinstance(data, dict):
        walk(data, "/data", default, None)
    return out


def collected_categories(event: dict) -> set[str]:
    """The categories an event says were collected: ``data.collected``, and the instrument of a
    payment."""
    data = event.get("data")
    if not isinstance(data, dict):
        return set()
    found = {c for c in (data.get("collected") or []) if isinstance(c, str) and c in CATEGORIES}
    if event.get("type") == "payment.made" and data.get("instrument") in CATEGORIES:
        found.add(data["instrument"])
    return found


def source_of(event: dict) -> tuple[str, str]:
    """(kind, value) of the source an event collected through: its ``data.channel``, else its
    envelope ``source`` (reading ``u.right-to-know-sources``)."""
    data = event.get("data")
    channel = data.get("channel") if isinstance(data, dict) else None
    if event.get("type") in CHANNEL_TYPES and isinstance(channel, str) and channel:
        return "channel", channel
    return "source", str(event.get("source"))


def _request_of(record: dict, subject: str) -> str | None:
    event = record["event"]
    if event.get("type") != "ccpa.request.filed" or event.get("subject") != subject:
        return None
    rid = (event.get("data") or {}).get("request_id")
    return rid if isinstance(rid, str) else None


def _request_status(record: dict, request_id: str) -> str | None:
    for outcome in record["decision"].get("outcomes") or []:
        if outcome.get("kind") == "obligation" and outcome.get("ref") == request_id:
            return outcome.get("status")
    return None


def assemble(records: Iterable[dict], subject: str, *, request_id: str | None = None,
             at: str | None = None, engine_version: str | None = None) -> dict:
    """The document for ``subject`` from decision-log records (``{"seq", "event", "decision",
    "policy_hash", "hash"}``, as :meth:`clauseline.store.SqlStore.log` yields them), with its
    ``digest``. The period is the 12 months before the receipt of ``request_id`` (a
    ``ccpa.request.filed`` of the subject), or before ``at``; with neither, before the receipt
    of the subject's latest request. Raises :class:`RightToKnowError`."""
    if not isinstance(subject, str) or not subject:
        raise RightToKnowError("right_to_know.subject_not_found", "give a subject id")
    if request_id is not None and at is not None:
        raise RightToKnowError("right_to_know.no_request",
                               "give a request id or a time (at), not both")
    if at is not None:
        checked_time(at)
    kept: list[dict] = []
    requests: dict[str, dict] = {}
    for record in records:
        event = record.get("event")
        if not isinstance(event, dict) or not about(event, subject):
            continue
        kept.append(record)
        rid = _request_of(record, subject)
        if rid is not None and rid not in requests:
            requests[rid] = record
    if not kept:
        raise RightToKnowError("right_to_know.subject_not_found",
                               "no event about this subject is stored")

    request = None
    cited: dict[int, dict] = {}
    if at is None:
        if request_id is None:
            if not requests:
                raise RightToKnowError(
                    "right_to_know.no_request",
                    "this subject has filed no CCPA request in this store: give a request id "
                    "(--request) or the end of the period (--at)")
            request_id = max(requests, key=lambda r: (parse_time(requests[r]["event"]["time"]),
                                                      requests[r]["seq"]))
        found = requests.get(request_id)
        if found is None:
            raise RightToKnowError("right_to_know.request_not_found",
                                   "this subject has filed no CCPA request with that request id in "
                                   "this store")
        received = found["event"]["time"]
        try:
            period = period_before(received)
        except ValueError:
            raise RightToKnowError("right_to_know.invalid_time",
                                   "the request's receipt time cannot end a 12-month period "
                                   "(it is in the first year of the calendar)") from None
        request = {"request_id": request_id, "received_at": format_time(parse_time(received)),
                   "status": _request_status(found, request_id), "from": _ref(found)}
        cited[found["seq"]] = found
    else:
        period = period_before(at)

    collected: dict[str, list] = {}
    sources: dict[tuple[str, str], list] = {}
    purposes: dict[str, list] = {}
    recipients: dict[str, list] = {}
    disclosed: dict[tuple[str, str], dict] = {}
    pieces: dict[str, list] = {}
    for record in kept:
        event = record["event"]
        try:
            moment = parse_time(event["time"])
        except (KeyError, TypeError, ValueError):
            continue
        if not period.covers(moment):
            continue
        ref = _ref(record)
        used = False
        categories = collected_categories(event)
        for piece in pieces_of(event, subject):
            category, pointer, value, note = piece
            item = {"from": ref, "type": event.get("type"), "time": format_time(moment),
                    "field": pointer, "value": value}
            if note:
                item["note"] = note
            pieces.setdefault(category, []).append(item)
            categories.add(category)
        for category in categories:
            collected.setdefault(category, []).append(ref)
        if categories:
            sources.setdefault(source_of(event), []).append(ref)
            used = True
        for outcome in record["decision"].get("outcomes") or []:
            if (outcome.get("kind") != "disclosure" or outcome.get("effect") != "permit"
                    or outcome.get("subject") != subject):
                continue  # a denied disclosure contributes nothing
            used = True
            dref = dict(ref, rule=outcome.get("rule"))
            recipient, purpose = outcome.get("recipient"), outcome.get("purpose")
            recipients.setdefault(recipient, []).append(dref)
            purposes.setdefault(purpose, []).append(dref)
            entry = disclosed.setdefault((recipient, purpose), {"categories": set(), "from": []})
            entry["categories"].update(c for c in outcome.get("data_categories") or []
                                       if isinstance(c, str))
            entry["from"].append(dref)
        if used:
            cited[record["seq"]] = record

    head = cited[max(cited)] if cited else None
    versions = {(r["decision"].get("policy_version"), r.get("policy_hash")) for r in cited.values()}
    document = {
        "document": DOCUMENT,
        "document_version": DOCUMENT_VERSION,
        "subject": subject,
        "request": request,
        "period": period.as_dict(),
        "categories_collected": [{"category": c, "from": _refs(r)}
                                 for c, r in sorted(collected.items())],
        "sources": [{"kind": k, "source": s, "from": _refs(r)}
                    for (k, s), r in sorted(sources.items())],
        "purposes": [{"purpose": p, "sale": p == "sale", "from": _refs(r)}
                     for p, r in sorted(purposes.items(), key=lambda i: str(i[0]))],
        "third_party_categories": [{"recipient": k, "from": _refs(r)}
                                   for k, r in sorted(recipients.items(), key=lambda i: str(i[0]))],
        "categories_disclosed": [
            {"recipient": k, "purpose": p, "sale": p == "sale",
             "data_categories": sorted(e["categories"]), "from": _refs(e["from"])}
            for (k, p), e in sorted(disclosed.items(), key=lambda i: (str(i[0][0]), str(i[0][1])))],
        "specific_pieces": [
            {"category": c, "pieces": sorted(items, key=lambda i: (i["from"]["seq"], i["field"]))}
            for c, items in sorted(pieces.items())],
        "policy_versions": [{"version": v, "policy_hash": h}
                            for v, h in sorted(versions, key=lambda i: (str(i[0]), str(i[1])))],
        "chain_head": head.get("hash") if head else None,
        "generated_from": {"engine_version": engine_version, "records": len(cited),
                           "through_seq": head["seq"] if head else None,
                           "readings": list(READINGS)},
    }
    document["digest"] = digest(document)
    return document


def digest(document: dict) -> str:
    """``sha256:<hex>`` over the canonical JSON (UTF-8) of ``document`` without ``digest``."""
    body = {k: v for k, v in document.items() if k != "digest"}
    return "sha256:" + hashlib.sha256(canonical.dumps(body).encode("utf-8")).hexdigest()


def dumps(document: dict) -> str:
    """The document's bytes as text: canonical JSON, one line."""
    return canonical.dumps(document)


def build(store, subject: str, *, request_id: str | None = None, at: str | None = None) -> dict:
    """The document for ``subject`` from a store (anything with ``log()`` yielding decision-log
    records, such as :class:`clauseline.store.SqlStore`: one read transaction). See
    :func:`assemble`."""
    from .chain import engine_version
    if at is not None:
        checked_time(at)
    return assemble(store.log(), subject, request_id=request_id, at=at,
                    engine_version=engine_version())


def prepared_event(document: dict, time: str | None = None) -> dict:
    """The ``ccpa.response.prepared`` event that records ``document`` (which must answer a
    request): source :data:`PREPARED_SOURCE`, id derived from the digest (the same document
    recorded twice is one event), time ``time`` or the request's receipt."""
    request = document.get("request")
    if not request:
        raise RightToKnowError("right_to_know.no_request",
                               "only a document that answers a request can be recorded: give "
                               "--request (or none of --request and --at: the latest request)")
    when = checked_time(time) if time is not None else request["received_at"]
    if parse_time(when) < parse_time(request["received_at"]):
        raise RightToKnowError("right_to_know.invalid_time",
                               "a document is prepared at or after the request's receipt "
                               f"({request['received_at']}): give a later --at")
    hexdigits = document["digest"].split(":", 1)[1]
    return {"specversion": "1.0", "id": f"rtk-{hexdigits[:32]}", "source": PREPARED_SOURCE,
            "type": PREPARED_TYPE, "time": when, "subject": document["subject"],
            "data": {"request_id": request["request_id"], "period": dict(document["period"]),
                     "digest": document["digest"]}}


# --- renderings: CSV (one file per section) and HTML (for a person) ----------------------------

#: The CSV files of a document, in order: (file name, section, columns).
CSV_SECTIONS = (
    ("categories_collected.csv", "categories_collected", ("category",)),
    ("sources.csv", "sources", ("kind", "source")),
    ("purposes.csv", "purposes", ("purpose", "sale")),
    ("third_party_categories.csv", "third_party_categories", ("recipient",)),
    ("categories_disclosed.csv", "categories_disclosed",
     ("recipient", "purpose", "sale", "data_categories")),
)


def _ref_text(ref: dict) -> str:
    text = f"{ref.get('source')} {ref.get('id')} (seq {ref.get('seq')})"
    return text + (f" by {ref['rule']}" if ref.get("rule") else "")


def _cell(value: Any) -> str:
    from .report import safe_text
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = " ".join(safe_text(v) for v in value)
    elif isinstance(value, dict):
        text = safe_text(canonical.dumps(value))
    else:
        text = safe_text(value)
    # a spreadsheet runs a cell starting with one of these as a formula (CSV injection)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    import csv
    import io
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def to_csv(document: dict) -> dict[str, str]:
    """The document as CSV files, one per section (file name -> text): ``document.csv`` (subject,
    request, period, chain head, digest), one file per list section with a ``from`` column
    (``source id (seq N) by RULE``, ``; `` between several), and ``specific_pieces.csv`` (one
    row per piece). Values are masked and cells that a spreadsheet would run are quoted."""
    request = document.get("request") or {}
    files = {"document.csv": _csv(
        ("field", "value"),
        [("document", document.get("document")), ("subject", document.get("subject")),
         ("request_id", request.get("request_id")), ("received_at", request.get("received_at")),
         ("request_status", request.get("status")),
         ("period_from", document["period"]["from"]), ("period_to", document["period"]["to"]),
         ("chain_head", document.get("chain_head")), ("digest", document.get("digest"))])}
    for name, section, columns in CSV_SECTIONS:
        files[name] = _csv(columns + ("from",), (
            [item.get(c) for c in columns] + ["; ".join(_ref_text(r) for r in item["from"])]
            for item in document.get(section) or []))
    files["specific_pieces.csv"] = _csv(
        ("category", "field", "value", "type", "time", "from", "note"),
        ([group["category"], p["field"], p["value"], p["type"], p["time"], _ref_text(p["from"]),
          p.get("note")]
         for group in document.get("specific_pieces") or [] for p in group["pieces"]))
    return files


_TITLES = {"categories_collected": "Categories of personal information collected",
           "sources": "Categories of sources it was collected from",
           "purposes": "Business or commercial purposes",
           "third_party_categories": "Categories of third parties it was shared with",
           "categories_disclosed": "Categories disclosed, by recipient and purpose (sales marked)",
           "specific_pieces": "Specific pieces of information"}

_CSS = ("body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#111}"
        "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #999}"
        "table{border-collapse:collapse;width:100%;margin:.5em 0}"
        "th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}"
        "th{background:#eee}.sale{font-weight:bold;color:#a00}.ref{font:12px monospace;color:#444}"
        ".note{font-style:italic;color:#555}code{font-size:12px;word-break:break-all}"
        "@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}}")


def _value_text(value: Any) -> str:
    """A piece's value as a person reads it: a reduced number as its kind and last digits."""
    if isinstance(value, dict) and "redacted" in value:
        kind = str(value.get("redacted")).replace("_", " ")
        return (f"{kind} number ending {value['last4']}" if value.get("last4")
                else f"{kind} number")
    return value if isinstance(value, str) else canonical.dumps(value)


def to_html(document: dict) -> str:
    """The document as one self-contained, printable HTML page for the consumer: no script, no
    network access; every value masked and HTML-escaped (as :mod:`clauseline.report` does)."""
    from .report import esc

    def refs(items: list[dict]) -> str:
        return "<br>".join(f'<span class="ref">{esc(_ref_text(r))}</span>' for r in items)

    def table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
        heads = "".join(f"<th>{esc(h)}</th>" for h in head)
        return f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>"

    def section(key: str, content: str, empty: bool) -> str:
        return (f"<h2>{esc(_TITLES[key])}</h2>"
                + ('<p class="note">None in this period.</p>' if empty else content))

    d = document
    request = d.get("request")
    parts = [f"<h1>Your personal information: {esc(d['subject'])}</h1>",
             "<p>What Securus holds about you for the period from "
             f"<b>{esc(d['period']['from'])}</b> to <b>{esc(d['period']['to'])}</b> "
             + ("(the 12 months before your request was received)" if request
                else "(12 months)")
             + ", as its policy engine's records show it. Each line names the records it comes "
             "from: the system that reported it, the record's id and its number in the log.</p>"]
    if request:
        parts.append(f"<p>Request <b>{esc(request['request_id'])}</b>, received "
                     f"{esc(request['received_at'])} (status: {esc(request.get('status'))}).</p>")
    sec = lambda key: d.get(key) or []  # noqa: E731
    parts.append(section("categories_collected", table(
        ("category", "from"), ([esc(i["category"]), refs(i["from"])]
                               for i in sec("categories_collected"))),
        not sec("categories_collected")))
    parts.append(section("sources", table(
        ("source", "kind", "from"), ([esc(i["source"]), esc(i["kind"]), refs(i["from"])]
                                     for i in sec("sources"))), not sec("sources")))
    parts.append(section("purposes", table(
        ("purpose", "from"), ([esc(i["purpose"]) + (' <span class="sale">(sale)</span>'
                                                   if i.get("sale") else ""), refs(i["from"])]
                              for i in sec("purposes"))), not sec("purposes")))
    parts.append(section("third_party_categories", table(
        ("recipient", "from"), ([esc(i["recipient"]), refs(i["from"])]
                                for i in sec("third_party_categories"))),
        not sec("third_party_categories")))
    parts.append(section("categories_disclosed", table(
        ("recipient", "purpose", "categories", "from"),
        ([esc(i["recipient"]), esc(i["purpose"]) + (' <span class="sale">SOLD</span>'
                                                   if i.get("sale") else ""),
          esc(", ".join(i["data_categories"])), refs(i["from"])]
         for i in sec("categories_disclosed"))), not sec("categories_disclosed")))
    pieces = "".join(
        f"<h3>{esc(g['category'])}</h3>" + table(
            ("field", "value", "event", "time"),
            ([f"<code>{esc(p['field'])}</code>",
              esc(_value_text(p["value"]))
              + (f'<br><span class="note">{esc(p["note"])}</span>' if p.get("note") else ""),
              esc(p["type"]) + "<br>" + refs([p["from"]]), esc(p["time"])]
             for p in g["pieces"]))
        for g in sec("specific_pieces"))
    parts.append(section("specific_pieces", pieces, not sec("specific_pieces")))
    versions = ", ".join(str(v.get("version")) for v in sec("policy_versions"))
    parts.append("<h2>How to check this document</h2><p>Decided under policy version(s) "
                 f"{esc(versions or 'none')}. Built from the decision log up to record "
                 f"{esc((d.get('generated_from') or {}).get('through_seq'))}, whose chain hash is "
                 f"<code>{esc(d.get('chain_head'))}</code>. Digest of this document (JSON form): "
                 f"<code>{html.escape(str(d.get('digest')))}</code>.</p>")  # a hash of ours, not masked:
    # its hex may hold a card-like run of digits (as the report's chain head did)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">"
            f"<title>Right to know: {esc(d['subject'])}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


__all__ = ["DOCUMENT", "PREPARED_SOURCE", "Period", "RightToKnowError", "about", "assemble",
           "build", "digest", "dumps", "pieces_of", "prepared_event", "period_before", "to_csv",
           "to_html"]
