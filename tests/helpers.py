"""Builders and readers shared by the clause tests."""


def request(kind, purpose, categories, name="someone", **over):
    """The data of a disclosure.requested event."""
    data = {"request_id": "r-1", "recipient": {"kind": kind, "name": name},
            "purpose": purpose, "data_categories": categories}
    data.update(over)
    return data


def disclosures(decision):
    """{effect: (categories, rule)} of a decision's disclosure outcomes."""
    return {o["effect"]: (o["data_categories"], o["rule"]) for o in decision.outcomes
            if o["kind"] == "disclosure"}
