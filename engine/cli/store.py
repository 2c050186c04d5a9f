"""Commands that manage a store: ``db init`` (create or migrate one) and ``keys create|list|
revoke`` (the HTTP service's API keys, kept hashed in the store)."""

from __future__ import annotations

import re
import sys

from .. import canonical
from ..errors import printable
from ..redact import quote
from .common import echo


def cmd_db_init(args) -> int:
    from ..store import open_store, schema_version
    store = open_store(args.db)
    try:
        revision = schema_version(store.engine)
        shown = store.shown  # no password (clauseline.redact.shown_url)
    finally:
        store.close()
    echo(f"clauseline db init: the store {shown} is ready (schema revision {revision})",
         sys.stderr)
    return 0


def cmd_keys_create(args) -> int:
    from ..service.keys import create_key
    from ..store import open_store
    store = open_store(args.db)
    try:
        key, token = create_key(store, args.name, args.scope)
    except ValueError as error:
        echo(f"clauseline keys create: {error}", sys.stderr)
        return 2
    finally:
        store.close()
    echo(token)
    echo(f"clauseline keys create: key {key.key_id} ({printable(key.name, lines=False)}) with scope(s) "
         f"{', '.join(key.scopes)}. The key above is shown only now: the store keeps only its "
         "hash. Send it as 'Authorization: Bearer <key>'.", sys.stderr)
    return 0


def cmd_keys_list(args) -> int:
    from ..service.keys import list_keys
    from ..store import open_store
    store = open_store(args.db, create=False)
    try:
        keys = list_keys(store)
    finally:
        store.close()
    for key in keys:
        if args.format == "json":
            echo(canonical.dumps(key.as_dict()))
        else:
            state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
            # a name is the operator's text: a control or bidirectional character is escaped
            echo(f"{key.key_id}  {printable(key.name, lines=False):<24} {' '.join(key.scopes):<36} "
                 f"created {key.created_at}  {state}")
    return 0


def cmd_keys_revoke(args) -> int:
    from ..service.keys import revoke_key
    from ..store import open_store
    store = open_store(args.db, create=False)
    try:
        key = revoke_key(store, args.key_id)
    finally:
        store.close()
    if key is None:
        # a key id is 12 hex digits; anything else (a whole key, a secret) is not repeated
        shown = args.key_id if re.fullmatch(r"[0-9a-f]{12}", args.key_id) else quote(args.key_id)
        echo(f"clauseline keys revoke: no key with id {shown} in this store", sys.stderr)
        return 1
    echo(f"clauseline keys revoke: key {key.key_id} ({printable(key.name, lines=False)}) revoked "
         f"at {key.revoked_at}", sys.stderr)
    return 0


def register(subparsers, parents) -> None:
    """``keys create|list|revoke`` and ``db init``."""
    from ..service.settings import DEFAULT_DB

    keys = subparsers.add_parser(
        "keys", help="create, list or revoke API keys of the HTTP service",
        description="API keys are stored hashed in the store that "
        "clauseline serve uses; a key is printed once, when created. Scopes: "
        "events:write (POST /v1/events), decisions:read (GET /v1/decisions, "
        "/v1/subjects, /v1/obligations; POST /v1/evaluate), subjects:read (GET "
        "/v1/subjects/{id}/right-to-know, not granted by the others), admin (all).")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    served = parents.db(f"the store clauseline serve uses (default {DEFAULT_DB})",
                        default=DEFAULT_DB)
    p = actions.add_parser("create", parents=[served],
                           help="create a key and print it (once) on stdout")
    p.add_argument("--name", required=True, help="who or what uses the key (e.g. ingest-tx-01)")
    p.add_argument("--scope", action="append", required=True,
                   choices=["events:write", "decisions:read", "subjects:read", "admin"],
                   help="a scope; repeat for several")
    p.set_defaults(func=cmd_keys_create)
    p = actions.add_parser("list", parents=[served, parents.format("text", "json")],
                           help="list keys (id, name, scopes, created, revoked; never the key)")
    p.set_defaults(func=cmd_keys_list)
    p = actions.add_parser("revoke", parents=[served],
                           help="revoke a key by its id: it is refused from then on")
    p.add_argument("key_id", metavar="KEY_ID", help="the key id (12 hex digits) or the whole key")
    p.set_defaults(func=cmd_keys_revoke)

    db = subparsers.add_parser(
        "db", help="manage a store",
        description="Commands that only read (due, log export, keys list, keys revoke) never "
        "create a store: a URL naming none is an error. Commands that write "
        "(replay --db, evaluate --db, serve, keys create) create it; db init "
        "creates it on its own.")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "init", parents=[parents.db("sqlite:///file.db, a path ending .db, or postgresql://...",
                                    required=True)],
        help="create the store (or migrate an existing one to this version)")
    p.set_defaults(func=cmd_db_init)
