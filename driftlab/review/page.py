"""The review page: one self-contained HTML file, no external assets (it must work offline).

Model text is put on the page with textContent only, never as HTML: proposals are untrusted.
Each button posts one decision and shows "saved" only when the server has committed it (text
being typed into an edit is kept in the browser's localStorage until it is saved); the
page polls every 2 s so decisions by other reviewers appear without a reload. The HTML, CSS
and script live in page.html, shipped as package data.
"""

from importlib.resources import files

PAGE = (files("driftlab.review") / "page.html").read_text(encoding="utf-8")
