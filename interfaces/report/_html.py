"""The report as HTML: one Jinja2 template shipped in the package, autoescaped, with SVG charts.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` it is labelled
by, each bar's value written beside it, and the table of its numbers next to it.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from interfaces.report._figures import YearReport
from interfaces.report._layout import sections

__all__ = ["render_html"]


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("interfaces.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: YearReport) -> bytes:
    """The report as an HTML document (UTF-8)."""
    template = _environment().get_template("report.html.j2")
    return template.render(report=report, sections=sections(report)).encode("utf-8")
