"""Building blocks for self-contained HTML reports: figures inlined as base64 PNG, tables
from DataFrames, one stylesheet. Shared by every report (Diagnosis, SHAP, Grad-CAM, drift,
strategy comparison, the demo)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import Any

import pandas as pd

from .optional import import_optional

__all__ = ["escape", "figure_html", "frame_html", "html_document", "section"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
figure{margin:1rem 0}figcaption{font-size:.85rem;color:#555}
img{max-width:100%}.tablewrap{overflow-x:auto;max-width:100%}pre{overflow-x:auto}.note{color:#555;font-size:.9rem}
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


def frame_html(frame: pd.DataFrame, *, float_format: str = "{:.3f}", max_rows: int = 200) -> str:
    """A DataFrame as an HTML table (escaped, floats formatted, at most ``max_rows`` rows)."""
    shown = frame.head(max_rows)
    out = shown.to_html(index=False, escape=True, float_format=lambda v: float_format.format(v), border=0, na_rep="—")
    out = f'<div class="tablewrap">{out}</div>'
    if len(frame) > max_rows:
        out += f'<p class="note">{len(frame) - max_rows} more rows not shown.</p>'
    return out


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{''.join(parts)}</section>"


def html_document(title: str, body: Iterable[str] | str) -> str:
    """A complete self-contained HTML page (no external assets)."""
    content = body if isinstance(body, str) else "".join(body)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{content}</body></html>"
    )
