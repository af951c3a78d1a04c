"""The review page admits only its user, and model text on it (and in the report) stays text.

A real `driftlab review` subprocess is asked, over real HTTP, what a DNS-rebinding page, a
cross-site form or a script without the token would ask; each is refused and the review
database is unchanged afterwards. Hostile model text is then shown in headless Chromium,
in the review page and in the run's report, and must run nothing.
"""

import http.client
import json
from urllib.parse import urlsplit

import pytest

from driftlab.config import load_config
from driftlab.experiment import run_experiment
from driftlab.report import write_report
from driftlab.review import ReviewDB
from driftlab.review.app import MAX_BODY, MAX_EDIT
from driftlab.review.examples import with_edit
from driftlab.store import read_jsonl, write_jsonl
from tests.test_review_browser import chromium, open_page, review_server

HOSTILE = (
    '</pre><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    "[/x] [bold]not markup[/bold]"
)


@pytest.fixture
def paused_run(tiny_config, tmp_path):
    """A tiny LMSI run paused for review, its first proposal replaced by hostile model text."""
    run_dir = tmp_path / "run"
    overrides = {"rounds": 1, "review.enabled": True, "review.critique": False}
    cfg = load_config(tiny_config(**overrides))
    assert run_experiment(cfg, run_dir)["status"] == "awaiting_review"
    rd = run_dir / "rounds" / "001"
    rows = read_jsonl(rd / "train.jsonl")
    write_jsonl(rd / "train.jsonl", [with_edit(rows[0], HOSTILE), *rows[1:]])
    proposals = read_jsonl(rd / "proposals.jsonl")
    proposals[0]["text"] = HOSTILE
    write_jsonl(rd / "proposals.jsonl", proposals)
    return run_dir


def call(url, method="GET", path="/api/decisions", body=None, **headers):
    """(status, reply headers, JSON body) of one raw request; `headers` are sent as given."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    headers.setdefault("Host", u.netloc)
    chunked = headers.pop("chunked", False)
    try:
        conn.request(method, path, body=body, headers=headers, encode_chunked=bool(chunked))
        res = conn.getresponse()
        data = res.read()
        is_json = res.headers.get("content-type", "").startswith("application/json")
        return res.status, res.headers, json.loads(data) if is_json else data.decode()
    finally:
        conn.close()


def test_the_review_server_admits_only_its_user(paused_run):
    with review_server(paused_run, "alice") as url:
        token = urlsplit(url).query.removeprefix("token=")
        origin = f"http://{urlsplit(url).netloc}"
        decide = json.dumps({"example": 0, "decision": "reject", "reviewer": "mallory"})
        ok = {"X-Driftlab-Token": token, "Origin": origin, "Content-Type": "application/json"}

        # Reading: the token is needed, and only this server's own Host is answered.
        assert call(url)[0] == 403
        assert call(url, X_Driftlab_Token="wrong-" + token)[0] == 403
        assert call(url, path="/")[0] == 403
        status, headers, _ = call(url, path=f"/?token={token}")
        assert status == 200 and "script-src 'nonce-" in headers["Content-Security-Policy"]
        cookie = headers["Set-Cookie"]
        assert f"{token}" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        name = cookie.split("=", 1)[0]
        assert call(url, Cookie=f"{name}={token}")[0] == 200
        assert call(url, X_Driftlab_Token=token)[0] == 200
        rebound = f"attacker.example:{urlsplit(url).port}"  # DNS rebinding: the page's own name
        assert call(url, Host=rebound, X_Driftlab_Token=token)[0] == 403

        # Changing state: each of these is refused before any handler runs.
        refused = [
            ({**ok, "X-Driftlab-Token": ""}, decide),  # no token
            ({**ok, "Origin": "http://attacker.example"}, decide),  # a cross-site page's fetch/form
            ({**ok, "Origin": "null"}, decide),  # a sandboxed frame or a file:// page
            ({k: v for k, v in ok.items() if k != "Origin"}, decide),  # no Origin at all
            ({**ok, "Host": rebound, "Origin": f"http://{rebound}"}, decide),  # rebound, same site
        ]
        finish = json.dumps({"reviewer": "mallory", "undecided": "accept"})
        for headers, body in refused:
            assert call(url, "POST", "/api/decide", body, **headers)[0] == 403, headers
            assert call(url, "POST", "/api/finish", finish, **headers)[0] == 403, headers

        def edit(text):
            return json.dumps({"example": 0, "decision": "edit", "reviewer": "m", "edited": text})

        assert call(url, "POST", "/api/decide", edit("x" * MAX_BODY), **ok)[0] == 413
        chunks = iter([decide.encode()])  # no Content-Length
        assert call(url, "POST", "/api/decide", chunks, chunked=True, **ok)[0] == 411
        long_edit = edit("x" * (MAX_EDIT + 1))
        assert len(long_edit) < MAX_BODY
        assert call(url, "POST", "/api/decide", long_edit, **ok)[0] == 422

        db = ReviewDB(paused_run / "review.sqlite")
        assert db.history(1) == [] and db.finished(1) is None  # nothing changed
        assert call(url, X_Driftlab_Token=token)[2]["decisions"] == {}
        # The same request from the user goes through: the refusals above were the checks.
        status, _, saved = call(url, "POST", "/api/decide", decide, **ok)
        assert status == 200 and saved["decision"] == "reject" and len(db.history(1)) == 1


def test_hostile_model_text_is_only_text_in_the_review_page_and_the_report(paused_run, tmp_path):
    with review_server(paused_run, "alice") as url, chromium(tmp_path / "browser") as browser:
        open_page(browser, url)  # the page's own script ran (CSP nonce) and read the API by cookie
        shown = browser.find_element("css selector", "#ex-0 pre.target")
        assert browser.execute_script("return arguments[0].textContent", shown) == HOSTILE
        assert browser.execute_script("return window.__pwned") is None
        assert browser.find_elements("css selector", "#examples img, #examples script") == []

        report = write_report(paused_run)
        browser.get(report.resolve().as_uri())
        assert "window.__pwned = 1" in browser.find_element("id", "samples").text
        assert browser.execute_script("return window.__pwned") is None
        assert browser.find_elements("css selector", "#samples img, #samples script") == []
