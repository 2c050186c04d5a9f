"""``/docs`` and ``/redoc`` work without internet (issue 25): integrators run the service on closed
networks, where FastAPI's default pages, which load Swagger UI from a CDN, stay blank.

The browser test runs a real ``clauseline serve`` and headless Chromium with every request that
does not go to 127.0.0.1 failing (``helpers.NETWORK_OFF``), and reads the rendered DOM: Swagger
UI must list every operation of the OpenAPI document. A control page, FastAPI's default one
with its CDN URLs, renders nothing under the same flags: it shows that the network really is off
for the browser, so the first test cannot pass by reaching a CDN. The other tests go through the
app in-process: every asset a page names is served from here, no page names a URL elsewhere,
and the assets' folder answers hostile paths with problem details.
"""

from __future__ import annotations

import json
import re
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.openapi.docs import get_swagger_ui_html
from helpers import NETWORK_OFF, chromium, run_chromium

from clauseline.service.docs import ASSETS

from .server import Server
from .test_api import problem_of

REPO = Path(__file__).resolve().parents[2]
CLAUSELINE = REPO / ".venv" / "bin" / "clauseline"
BROWSER = pytest.mark.skipif(
    chromium() is None, reason="Chromium is not installed (/usr/bin/chromium; Debian: apt-get "
    "install -y chromium): /docs is not checked in a browser")


def rendered(binary: str, profile: Path, url: str) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the console lines Chromium logged."""
    run = run_chromium(binary, profile, *NETWORK_OFF, "--virtual-time-budget=10000",
                       "--dump-dom", url)
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return run.stdout, console


def operations(document: dict) -> set[tuple[str, str]]:
    """(method, path) of every operation the OpenAPI document lists."""
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(method, path) for path, item in document["paths"].items()
            for method in item if method in methods}


def opblocks(dom: str) -> set[tuple[str, str]]:
    """(method, path) of every operation Swagger UI drew: the method in its block's class
    (``opblock opblock-post``) and the path in the block's ``data-path``."""
    found = set()
    for block in re.findall(r'<div class="opblock opblock-(\w+)[^"]*".*?data-path="([^"]*)"', dom,
                            flags=re.S):
        found.add((block[0], block[1]))
    return found


def _served_page(tmp_path: Path, page: str) -> tuple[dict, str, list[str], list[dict]]:
    """The OpenAPI document of a real ``clauseline serve``, ``page`` rendered by Chromium with
    the network off, its console, and the server's access log lines."""
    log = tmp_path / "serve.log"
    with Server(CLAUSELINE, "--db", f"sqlite:///{tmp_path / 'service.db'}", log=log) as server:
        with urllib.request.urlopen(server.url + "/openapi.json", timeout=10) as response:
            document = json.load(response)
        dom, console = rendered(chromium(), tmp_path / "profile", server.url + page)
    served = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return document, dom, console, served


def _assets_came_from_the_server(served: list[dict], names: set[str]) -> None:
    """The access log has a 200 for each asset: the page's scripts were the server's."""
    assert {(entry["route"], entry["status"]) for entry in served
            if entry["route"] == ASSETS} == {(ASSETS, 200)}
    assert sum(entry["route"] == ASSETS for entry in served) >= len(names)


@BROWSER
def test_docs_render_every_operation_in_chromium_with_the_network_off(tmp_path):
    document, dom, console, served = _served_page(tmp_path, "/docs")
    expected = operations(document)
    assert ("post", "/v1/events") in expected and len(expected) >= 10
    assert opblocks(dom) == expected
    assert 'class="swagger-ui"' in dom and document["info"]["title"] in dom
    assert console == [], "\n".join(console)  # nothing failed to load, no script error
    _assets_came_from_the_server(served, {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"})


@pytest.mark.slow  # about 15 s alone: Redoc renders the whole contract's schemas
@BROWSER
def test_redoc_renders_every_operation_in_chromium_with_the_network_off(tmp_path):
    document, dom, console, served = _served_page(tmp_path, "/redoc")
    expected = operations(document)
    # Redoc draws each operation with its method and path
    drawn = set(re.findall(r'<span type="(\w+)" class="[^"]*">\w+</span>', dom))
    assert {method for method, _ in expected} <= drawn, drawn
    assert all(path in dom for _, path in expected), "Redoc did not render the operations"
    # Redoc logs warnings about the contract's schema compositions (allOf with nullable
    # strings): harmless. A failed load or a script error fails the test.
    failures = [line for line in console if re.search(
        r"Uncaught|ERR_|Failed to load|Refused|is not defined|TypeError", line)]
    assert failures == [], "\n".join(failures)
    _assets_came_from_the_server(served, {"redoc.standalone.js", "favicon.png"})


@BROWSER
def test_control_fastapis_cdn_page_renders_nothing_with_the_same_flags(tmp_path):
    """FastAPI's default page (Swagger UI from the CDN) in the same browser: blank. Were the
    network reachable this test would fail, and the one above would prove nothing."""
    page = tmp_path / "cdn-docs.html"
    page.write_text(get_swagger_ui_html(openapi_url="/openapi.json", title="cdn").body.decode(),
                    encoding="utf-8")
    assert "https://cdn.jsdelivr.net/" in page.read_text()
    dom, console = rendered(chromium(), tmp_path / "profile-cdn", page.as_uri())
    assert re.search(r'<div id="swagger-ui">\s*</div>', dom), "the CDN's Swagger UI loaded"
    assert opblocks(dom) == set()
    assert any("SwaggerUIBundle is not defined" in line or "ERR_" in line for line in console), \
        "\n".join(console)


# --- in-process: what the pages name, and hostile paths ----------------------------------------

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize("page, kinds", [
    ("/docs", {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "text/css",
               "favicon.png": "image/png"}),
    ("/redoc", {"redoc.standalone.js": "javascript", "favicon.png": "image/png"}),
])
def test_every_url_a_docs_page_names_is_served_here(sqlite_api, page, kinds):
    response = sqlite_api.client.get(page)  # no key: the pages are public, as /openapi.json is
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(response.text)
    assert links.urls and all(url.startswith(ASSETS + "/") for url in links.urls), links.urls
    assert not re.search(r"https?://", response.text), "a page names a URL elsewhere"
    assert "'/openapi.json'" in response.text or '"/openapi.json"' in response.text
    assert {url.rsplit("/", 1)[1] for url in links.urls} == set(kinds)
    for url in links.urls:
        asset = sqlite_api.client.get(url)
        assert asset.status_code == 200, url
        assert kinds[url.rsplit("/", 1)[1]] in asset.headers["content-type"], url
        assert len(asset.content) > 1000


def test_swagger_ui_does_not_call_the_online_validator(sqlite_api):
    page = sqlite_api.client.get("/docs").text
    assert re.search(r'"validatorUrl":\s*null', page)


def test_openapi_json_is_unchanged_and_lists_no_docs_route(sqlite_api):
    document = sqlite_api.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert not any(path.startswith(("/docs", "/redoc")) for path in document["paths"])


@pytest.mark.parametrize("path", [
    ASSETS + "/no-such-file.js",
    ASSETS + "/",
    ASSETS + "/../../../../etc/passwd",
    ASSETS + "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ASSETS + "/..%2f..%2f..%2fetc%2fpasswd",
    ASSETS + "/%00swagger-ui.css",
    ASSETS + "/swagger-ui.css%00.png",
    ASSETS + "/" + "a" * 5000,
    ASSETS + "/%C3%A9t%C3%A9.js",
    ASSETS + "/%FF%FE.js",
    ASSETS + "/4111111111111111.js",
    ASSETS + "/core.py",
    ASSETS + "/../core.py",
    "/docs/oauth2-redirect",
])
def test_hostile_asset_paths_are_problems_and_never_leak_a_file(sqlite_api, path):
    response = sqlite_api.client.get(path)
    body = problem_of(response, 404)
    assert body["code"] == "request.not_found"
    assert "root:" not in response.text and "import" not in response.text
    assert "4111111111111111" not in response.text


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_assets_and_pages_take_get_only(sqlite_api, method):
    for path in (ASSETS + "/swagger-ui.css", "/docs", "/redoc"):
        response = sqlite_api.client.request(method.upper(), path, headers=sqlite_api.auth())
        problem_of(response, 405, "request.method_not_allowed")
