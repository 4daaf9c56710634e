"""Renders the report page with jinja2. Autoescape is on: every string from a run is shown as text."""

from __future__ import annotations

import base64
import hashlib
import math
from importlib import resources

import jinja2

from bench.results.vocabulary import format_bytes as fmt_bytes
from bench.results.vocabulary import format_seconds as fmt_seconds
from bench.results.vocabulary import missing as _missing

TEMPLATE = "report.html"


def _number(value, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def fmt_rate(value, unit: str = "/s") -> str:
    """1.2e9 -> '1.2 G<unit>': SI prefixes for tokens/s and FLOP/s."""
    if _missing(value):
        return "—"
    value = float(value)
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{_number(value / factor)} {prefix}{unit}"
    return f"{_number(value)} {unit}"


def fmt_pct(value) -> str:
    return "—" if _missing(value) else f"{float(value):.1f} %"


def fmt_speedup(value) -> str:
    return "—" if _missing(value) else f"×{float(value):.2f}"


def fmt_sci(value) -> str:
    return "—" if _missing(value) else f"{float(value):.2g}"


def fmt_plain(value) -> str:
    if _missing(value):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def speedup_class(value) -> str:
    """CSS class for a speedup: clearly faster, within 5% of native, or slower."""
    if _missing(value):
        return "na"
    return "win" if value >= 1.05 else "lose" if value <= 1 / 1.05 else "even"


def sort_value(value) -> str:
    """What the inline table sort compares: a number where there is one, else the text."""
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return repr(float(value))
    return str(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        seconds=fmt_seconds,
        bytes=fmt_bytes,
        rate=fmt_rate,
        pct=fmt_pct,
        speedup=fmt_speedup,
        sci=fmt_sci,
        plain=fmt_plain,
        speedup_class=speedup_class,
        sortv=sort_value,
        missing=_missing,
    )
    return env


def render(context: dict) -> str:
    """The page. The only script is the static table sorter, allowed by hash in the page's CSP."""
    script = resources.files("bench.render").joinpath("templates", "report.js").read_text()
    style = resources.files("bench.render").joinpath("templates", "report.css").read_text()
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    template = _environment().get_template(TEMPLATE)
    return template.render(**context, script=script, style=style, csp=csp)


def render_template(name: str, context: dict) -> str:
    """Another page in the report's style (bench/render/templates/NAME), with no script at all."""
    style = resources.files("bench.render").joinpath("templates", "report.css").read_text()
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return _environment().get_template(name).render(**context, style=style, csp=csp)
