"""The HTML report: one self-contained file per run, diff or weak-to-strong directory.

`write_report(path)` rebuilds `path/report.html` from the stored artifacts alone, so every
figure is reproducible from the directory, and a run that is still going (or halted, or
failed) renders what it has so far.
"""

from __future__ import annotations

from pathlib import Path

from driftlab.errors import DriftlabError

REPORT_NAME = "report.html"
# The file that marks each kind of directory, checked in this order, and the schema it must
# declare (findings.json and results.json are common names: a benchmark's summary is not a
# w2s result).
MARKERS = {
    "run": ("run.json", None),
    "diff": ("findings.json", "driftlab.diff/"),
    "w2s": ("results.json", "driftlab.w2s/"),
}


def detect_kind(path: Path) -> str:
    """'run', 'diff' or 'w2s': what the directory holds, from the artifact that marks it."""
    from driftlab.store import read_json

    path = Path(path)
    if not path.is_dir():
        raise DriftlabError(f"{path} is not a directory")
    for kind, (marker, schema) in MARKERS.items():
        if (path / marker).exists():
            if schema is None:
                return kind
            doc = read_json(path / marker)
            if isinstance(doc, dict) and str(doc.get("schema", "")).startswith(schema):
                return kind
    raise DriftlabError(
        f"{path} holds no run.json, diff findings.json or w2s results.json: nothing to report on "
        "(give a directory written by `driftlab run`, `driftlab diff` or `driftlab w2s`)"
    )


def build_context(path: Path) -> tuple[str, dict]:
    """(template name, page context) for the directory."""
    kind = detect_kind(path)
    if kind == "run":
        from driftlab.report.run import run_context

        return "run.html.j2", run_context(Path(path))
    if kind == "diff":
        from driftlab.report.diff import diff_context

        return "diff.html.j2", diff_context(Path(path))
    from driftlab.report.w2s import w2s_context

    return "w2s.html.j2", w2s_context(Path(path))


def write_report(path: Path) -> Path:
    """Write `path/report.html` from the artifacts in `path`; returns the file's path."""
    from driftlab.report.render import render, write_html

    template, context = build_context(Path(path))
    return write_html(Path(path) / REPORT_NAME, render(template, context))


__all__ = ["REPORT_NAME", "detect_kind", "write_report"]
