import pytest

from clauseline import Session
from clauseline.events.validation import BASE

DECISION = BASE + "decision.schema.json"


@pytest.fixture
def run(request, policy, event):
    """Submit events to one session that carries state from event to event; each must be
    accepted and its decision valid against the decision schema. A test module may set
    ``SUBJECT`` (default ``acct-1``; None for events without subject) and ``START`` (the default
    event time)."""
    session = Session(policy)
    default_subject = getattr(request.module, "SUBJECT", "acct-1")
    default_time = getattr(request.module, "START", "2019-07-01T09:00:00Z")

    def submit(kind, data, subject=default_subject, time=default_time):
        decision = session.submit(event(kind, data, subject=subject, time=time))
        assert decision.status == "accepted", decision.errors
        assert policy.schemas.problems(decision.as_dict(), DECISION) == []
        return decision

    return submit
