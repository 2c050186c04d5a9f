"""Clause J, communication choices: an e-mail opt-out stops news and marketing e-mails (order
e-mails stay), an SMS opt-out by any method stops every text; both from the opt-out's time."""

import pytest


def send(run, channel, category, time="2019-07-02T09:00:00Z", subject="acct-1", mid="m-1"):
    """(effect, rule) of the one disclosure a message request yields."""
    d = run("message.send.requested", {"message_id": mid, "channel": channel, "category": category},
            subject=subject, time=time)
    [o] = d.outcomes
    assert o["kind"] == "disclosure" and o["recipient"] == "service_provider"
    assert o["ref"] == f"message:{mid}"
    assert o["data_categories"] == (["email"] if channel == "email" else ["phone"])
    assert o["purpose"] == ("service_provision" if category == "transactional" else "marketing")
    return o["effect"], o["rule"]


def opt_out(run, channel, method, time="2019-07-01T09:00:00Z", subject="acct-1"):
    d = run("communication.opted_out", {"channel": channel, "method": method}, subject=subject, time=time)
    assert d.outcomes == ()
    assert "J.opt-out-at-any-time" in d.trace
    return d


@pytest.mark.parametrize("category", ["news_updates", "marketing"])
def test_email_opt_out_stops_news_and_marketing_emails(run, category):
    opt_out(run, "email", "email_link")
    assert send(run, "email", category) == ("deny", "J.email-opt-out-stops-news-and-marketing")


def test_email_opt_out_keeps_order_emails(run):
    opt_out(run, "email", "email_link")
    assert send(run, "email", "transactional") == ("permit", "B.order-emails")


def test_email_opt_out_does_not_touch_texts(run):
    opt_out(run, "email", "online_settings")
    assert send(run, "sms", "marketing") == ("permit", "J.text-notifications-news")


@pytest.mark.parametrize("method", ["sms_stop", "online_settings", "phone"])
@pytest.mark.parametrize("category,rule", [
    ("transactional", "J.sms-stop-stops-service-texts"),
    ("news_updates", "J.sms-stop-stops-news-texts"),
    ("marketing", "J.sms-stop-stops-news-texts")])
def test_sms_opt_out_by_any_method_stops_every_text(run, method, category, rule):
    opt_out(run, "sms", method)
    assert send(run, "sms", category) == ("deny", rule)


def test_sms_opt_out_does_not_touch_emails(run):
    opt_out(run, "sms", "sms_stop")
    assert send(run, "email", "news_updates") == ("permit", "B.news-and-updates-emails")


@pytest.mark.parametrize("category,rule", [("transactional", "J.text-notifications-about-service"),
                                           ("news_updates", "J.text-notifications-news")])
def test_texts_are_sent_without_an_opt_out(run, category, rule):
    assert send(run, "sms", category) == ("permit", rule)


def test_opt_out_applies_from_its_own_time(run):
    opt_out(run, "email", "email_link", time="2019-07-01T09:00:00Z")
    assert send(run, "email", "marketing", time="2019-07-01T09:00:00Z", mid="m-same")[0] == "deny"
    # a message requested before the opt-out (reported late) is judged as it was
    assert send(run, "email", "marketing", time="2019-07-01T08:59:59Z", mid="m-early") == (
        "permit", "B.news-and-updates-emails")


def test_opt_out_is_per_subject(run):
    opt_out(run, "email", "email_link", subject="acct-1")
    assert send(run, "email", "marketing", subject="acct-2")[0] == "permit"


def test_the_earliest_opt_out_is_kept(run):
    first = opt_out(run, "sms", "sms_stop", time="2019-07-10T00:00:00Z")
    assert "J.opt-out-remembered" in first.trace
    again = opt_out(run, "sms", "phone", time="2019-07-20T00:00:00Z")
    assert "J.opt-out-remembered" not in again.trace
    assert send(run, "sms", "transactional", time="2019-07-15T00:00:00Z")[0] == "deny"
    late = opt_out(run, "sms", "online_settings", time="2019-07-05T00:00:00Z")  # reported late
    assert "J.opt-out-remembered" in late.trace
    assert send(run, "sms", "transactional", time="2019-07-06T00:00:00Z", mid="m-2")[0] == "deny"
