"""One self-contained HTML file: Jinja2 templates, the page's CSS and JS, and plotly.js inline.

plotly.js is embedded (not linked to a CDN) so a report opens offline, from a laptop, an
e-mail attachment or a cluster's scratch folder, years later.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import plotly.offline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from driftlab.store import _atomic_write


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("driftlab.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    return env


@cache
def plotly_js() -> Markup:
    return Markup(plotly.offline.get_plotlyjs())


def _fmt(v: Any, spec: str = ".4g") -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else str(v)
    if v != v:  # NaN
        return "-"
    return format(v, spec)


def render(template: str, context: dict[str, Any]) -> str:
    env = environment()
    page = env.get_template(template)
    loader = env.loader
    assert loader is not None  # environment() gives it the templates' loader
    return page.render(
        **context,
        plotly_js=plotly_js(),
        css=Markup(loader.get_source(env, "report.css")[0]),
        js=Markup(loader.get_source(env, "report.js")[0]),
    )


def write_html(path: Path, html: str) -> Path:
    _atomic_write(path, html)
    path.chmod(0o644)  # a page to share, unlike the run's private temporary files
    return path
