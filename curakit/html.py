"""Building blocks for self-contained HTML reports: figures inlined as base64 PNG, tables
from DataFrames, one stylesheet. Shared by every report (Diagnosis, SHAP, Grad-CAM, drift,
strategy comparison, the demo)."""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .optional import import_optional

__all__ = ["escape", "figure_html", "format_number", "frame_html", "html_document", "legend_html", "section", "slug"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}.num{text-align:right;white-space:nowrap}td.text{min-width:6rem;max-width:32rem}td.text:first-child{min-width:12rem}
figure{margin:1rem 0}figcaption{font-size:.85rem;color:#555}
img{max-width:100%}.tablewrap{overflow-x:auto;max-width:100%}pre{overflow-x:auto}.note{color:#555;font-size:.9rem}
header{border-bottom:2px solid #ddd;margin-bottom:1rem}.verdict{font-size:1.05rem;background:#f3f7fb;border-left:4px solid #1f77b4;padding:.5rem .75rem}
nav.toc ol{columns:2;font-size:.9rem;margin:.5rem 0 1rem}dl.legend{font-size:.85rem;color:#444;display:grid;grid-template-columns:max-content 1fr;gap:.15rem .75rem}dl.legend dt{font-weight:600}dl.legend dd{margin:0}
"""


def escape(text: Any) -> str:
    return html.escape(str(text))


def figure_html(fig: Any, caption: str = "", *, dpi: int = 110, close: bool = True) -> str:
    """A matplotlib figure as an inline ``<figure>`` (base64 PNG); the figure is closed."""
    plt = import_optional("matplotlib.pyplot")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">{cap}</figure>'


def format_number(value: Any, digits: int = 4) -> str:
    """A number rounded for reading: ``digits`` significant digits, thousands as integers,
    magnitudes below 1e-6 as ``"<1e-6"``, never exponent notation; non-numbers as ``str``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "dtype"):
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "—"
    if math.isinf(v) or v == 0.0:
        return str(v) if math.isinf(v) else "0"
    if abs(v) < 1e-6:
        return "<1e-6" if v > 0 else ">-1e-6"
    if abs(v) >= 10 ** digits:
        return f"{v:,.0f}"
    return np.format_float_positional(v, precision=digits, unique=False, fractional=False, trim="-")


def _cell(value: Any, fmt: Any) -> str:
    if value is None or isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, (float, np.floating)):
        return fmt(float(value))
    if value is pd.NA or value is pd.NaT:
        return "—"
    return str(value)


def frame_html(frame: pd.DataFrame, *, float_format: str | None = None, max_rows: int = 200, digits: int = 4) -> str:
    """A DataFrame as an HTML table (escaped, at most ``max_rows`` rows) in a box that scrolls
    sideways on its own. Floats go through :func:`format_number` with ``digits`` significant digits
    unless ``float_format`` is given; numeric columns are right-aligned, text columns left-aligned
    and wrapped at a readable width."""
    shown = frame.head(max_rows)
    fmt = (lambda v: format_number(v, digits)) if float_format is None else (lambda v: float_format.format(v))
    numeric = [pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt) for dt in shown.dtypes]
    head = "".join(f'<th class="{"num" if num else "text"}">{escape(c)}</th>' for c, num in zip(shown.columns, numeric))
    body = []
    for row in shown.itertuples(index=False, name=None):
        cells = "".join(f'<td class="{"num" if num else "text"}">{escape(_cell(v, fmt))}</td>' for v, num in zip(row, numeric))
        body.append(f"<tr>{cells}</tr>")
    out = f'<div class="tablewrap"><table class="frame"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    if len(frame) > max_rows:
        out += f'<p class="note">{len(frame) - max_rows} more rows not shown.</p>'
    return out


def legend_html(entries: dict[str, str] | Iterable[tuple[str, str]], title: str = "Legend") -> str:
    """Each column or metric explained once: a ``<dl class="legend">`` of name -> meaning."""
    items = entries.items() if isinstance(entries, dict) else entries
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<details open class="legend"><summary>{escape(title)}</summary><dl class="legend">{rows}</dl></details>'


def slug(title: str) -> str:
    """An HTML id from a section title (lower case, letters/digits/dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


def section(title: str, *parts: str, anchor: str | None = None) -> str:
    """A ``<section>`` with an ``<h2>`` title and an id (``anchor`` or :func:`slug` of the title)
    that :func:`html_document`'s table of contents links to."""
    return f'<section id="{escape(anchor or slug(title))}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


_SECTION = re.compile(r'<section id="([^"]*)"><h2>(.*?)</h2>')


def _with_toc(content: str) -> tuple[str, str]:
    """(content with unique section ids, the table-of-contents ``<nav>``; empty under 2 sections)."""
    seen: dict[str, int] = {}
    links: list[str] = []

    def unique(m: re.Match) -> str:
        sid, head = m.group(1), m.group(2)
        seen[sid] = seen.get(sid, 0) + 1
        if seen[sid] > 1:
            sid = f"{sid}-{seen[sid]}"
        links.append(f'<li><a href="#{sid}">{head}</a></li>')
        return f'<section id="{sid}"><h2>{head}</h2>'

    content = _SECTION.sub(unique, content)
    nav = f'<nav class="toc"><b>Contents</b><ol>{"".join(links)}</ol></nav>' if len(links) > 1 else ""
    return content, nav


def html_document(title: str, body: Iterable[str] | str, *, verdict: str | None = None, toc: bool = True) -> str:
    """A complete self-contained HTML page (no external assets): a header with the title, the
    ``verdict`` in one sentence when given and a table of contents of the sections."""
    content = body if isinstance(body, str) else "".join(body)
    content, nav = _with_toc(content)
    head = f'<p class="verdict">{escape(verdict)}</p>' if verdict else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><header><h1>{escape(title)}</h1>{head}{nav if toc else ''}</header>{content}</body></html>"
    )
