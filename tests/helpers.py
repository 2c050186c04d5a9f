"""Builders and readers shared by the tests: clause tests' events, headless Chromium."""

import shutil
import subprocess
from pathlib import Path


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


# --- headless Chromium (the HTML report, the service's /docs) ---------------------------------

#: Chromium's flags for a page that may reach nothing but this machine: every request goes to a
#: proxy that does not answer (loopback bypasses a proxy by default), and no name resolves but
#: 127.0.0.1, so a page that fetches from the internet fails visibly instead of passing online.
NETWORK_OFF = ("--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")


def chromium() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with a fresh profile, its log on stderr (console messages included)."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr",
             "--v=0"]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120)
