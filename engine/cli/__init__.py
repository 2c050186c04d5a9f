"""The ``clauseline`` command line. Run ``clauseline --help`` or ``clauseline COMMAND --help``.

Exit codes: 0 success; 1 the input was refused (a rejected event for ``evaluate``, rule-file
errors for ``rules check``, an unreadable file); 2 wrong usage. The commands that check or
compare (``verify``, ``diff``, ``replay --compare``) answer as diff(1) does: 0 the same, 1 a
finding, 2 an error (:func:`.common.errors_exit_2`; docs/auditing.md, "Exit codes").

One module per group of commands, each with ``register(subparsers, parents)`` that adds its
commands and sets each one's handler (``func``): :mod:`.events` (evaluate, replay, diff,
explain), :mod:`.audit` (report, due, log export, verify), :mod:`.policy` (clauses,
interpretations, rules check|list), :mod:`.service` (serve), :mod:`.stream` (publish,
consume), :mod:`.store` (keys create|list|revoke, db init), :mod:`.rights` (right-to-know).
:mod:`.common` holds what they
share: the options several commands take, as parent parsers, and the helpers.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ClauselineError, PolicyLoadError
from ..redact import MaskedArgumentParser
from . import audit, events, policy, rights, service, store, stream
from .common import RULES_HELP, Parents, echo

DESCRIPTION = """\
clauseline: a privacy policy (Securus Technologies, 2019-05-04, clauses A to W) as declarative
rules. Events are CloudEvents (JSON); every event gives one decision listing permitted or denied
disclosures, retention actions, notices, obligations and violations, each citing its clause.
The event's `time` is the only clock, so replaying a log always gives the same decisions.
"""

EPILOG = """\
examples:
  clauseline evaluate event.json
  clauseline replay examples/demo-log.jsonl > decisions.jsonl
  clauseline replay examples/demo-log.jsonl --format text
  clauseline replay log.jsonl --db sqlite:///clauseline.db > decisions.jsonl
  clauseline due --db sqlite:///clauseline.db --at 2019-08-15T00:00:00Z
  clauseline rules check --rules my-rules/
  clauseline serve --db sqlite:///clauseline.db
"""

#: The command groups, in the order ``clauseline --help`` lists their commands.
GROUPS = (events, audit, rights, policy, service, stream, store)


class _Version(argparse.Action):
    """``--version``: looks the installed version up only when asked (the lookup is not free)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .. import __version__
        print(f"clauseline {__version__}")  # stdout, as argparse's own version action does
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``clauseline`` argument parser: every command of every group, each with its
    handler as ``func``."""
    parser = MaskedArgumentParser(prog="clauseline", description=DESCRIPTION, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    # --rules is accepted before the command and after it (clauseline rules check --rules DIR)
    parser.add_argument("--rules", metavar="DIR", default=None, help=RULES_HELP)
    parser.add_argument("--version", action=_Version,
                        help="print the installed clauseline version and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = Parents()
    for group in GROUPS:
        group.register(subparsers, parents)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``clauseline`` console script."""
    args = build_parser().parse_args(argv)
    # warnings of the library (a store retrying a transient fault) as one prefixed line each
    import logging
    library = logging.getLogger("clauseline")
    if not library.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(logging.Formatter("clauseline: %(name)s: %(message)s"))
        library.addHandler(handler)
        library.setLevel(logging.WARNING)
    try:
        return args.func(args)
    except PolicyLoadError as error:
        echo(str(error), sys.stderr)
        echo(f"clauseline: the policy rules did not load ({len(error.problems)} problem(s)); "
             "run 'clauseline rules check'", sys.stderr)
        return 1
    except ClauselineError as error:
        echo(f"clauseline: {error}", sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback; a store commits per event
        echo("clauseline: interrupted", sys.stderr)
        return 130
    except OSError as error:  # an unreadable input or unwritable output named on the command line
        echo(f"clauseline: {error.filename or ''}: {error.strerror or error}", sys.stderr)
        return 1


__all__ = ["build_parser", "main"]
