import itertools

import pytest

from clauseline import load_policy

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def policy():
    """The shipped policy, loaded and compiled once for the whole run."""
    return load_policy()


@pytest.fixture
def event():
    """Build a valid CloudEvent: event("payment.made", {...data...}, subject=..., time=...)."""

    def make(kind, data, subject="acct-1", time="2019-07-01T09:00:00Z", **extra):
        out = {"specversion": "1.0", "id": f"e-{next(_ids)}", "source": "/tests", "type": kind,
               "time": time, "data": data}
        if subject is not None:
            out["subject"] = subject
        out.update(extra)
        return out

    return make
