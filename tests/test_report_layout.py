"""The report laid out in headless Chromium at 1400 px wide, as an auditor's screen shows it:
nothing runs off the page, with every subject's drill-down open and ids too long to wrap.

The page forbids scripts other than its own (its Content-Security-Policy), so the measuring
script runs in a copy without that header; the page's layout is the same."""

from __future__ import annotations

import json
import re

import pytest
from helpers import chromium, run_chromium

from clauseline import Session
from clauseline.report import render_html, replayed

WIDTH = 1400
LONG = "x" * 200  # an id with no place to break
MEASURE = """<script>window.addEventListener("load",function(){
document.querySelectorAll("details").forEach(function(d){d.open=true;});
var main=document.querySelector("main"),edge=main.getBoundingClientRect().right+1,out=[];
document.querySelectorAll("main *").forEach(function(e){
  if(e.closest(".scroll")&&!e.classList.contains("scroll")){return;}
  var r=e.getBoundingClientRect();
  if(r.right>edge&&out.length<20){out.push(e.tagName.toLowerCase()+"."+e.className+" "+Math.round(r.right));}
});
document.body.setAttribute("data-layout",JSON.stringify({page:document.documentElement.scrollWidth,
  main:Math.round(main.getBoundingClientRect().width),over:out}));});</script>"""


def records(policy) -> list[dict]:
    from test_report import log_lines
    lines = log_lines() + [json.dumps(e) for e in (
        {"specversion": "1.0", "id": "l-1", "source": "/tests/layout", "type": "account.opened",
         "time": "2020-03-01T08:00:00Z", "subject": LONG,
         "data": {"profile": {"role": "customer", "residence": {"country": "US", "region": "US-CA"}},
                  "collected": ["name", "voice"], "channel": "web"}},
        {"specversion": "1.0", "id": "l-2", "source": "/tests/layout", "type": "ccpa.request.filed",
         "time": "2020-03-01T08:10:00Z", "subject": LONG,
         "data": {"request_id": "r" + LONG[:120], "kinds": ["categories"], "delivery": "mail",
                  "has_account": True}})]
    # as clauseline report pairs them: a deadline timer's decision with its own tick
    return [{"event": event, "decision": decision.as_dict()}
            for event, decision in replayed(Session(policy).replay(lines), lines)]


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (/usr/bin/chromium; "
                    "Debian: apt-get install -y chromium): the layout is not checked in a browser")
def test_nothing_runs_off_the_page_at_1400_px(policy, tmp_path):
    found = records(policy)
    assert any(LONG in json.dumps(r["decision"]) for r in found)
    page = render_html(found, policy=policy, obligations=[], chain=None)
    copy = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    copy = copy.replace("</body>", MEASURE + "</body>", 1)
    target = tmp_path / "layout.html"
    target.write_text(copy, encoding="utf-8")
    dom = run_chromium(chromium(), tmp_path / "profile", f"--window-size={WIDTH},3000",
                       "--dump-dom", target.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    layout = json.loads(re.search(r'data-layout="([^"]*)"', dom.stdout).group(1).replace("&quot;", '"'))
    assert layout["over"] == [], layout  # no element past the main column, but inside a scroller
    assert layout["page"] <= WIDTH, layout  # no horizontal scroll of the page
    assert 1000 <= layout["main"] <= WIDTH, layout
