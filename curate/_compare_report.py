"""The strategy comparison's HTML report (ComparisonTable.to_html delegates here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from curakit.html import escape, figure_html, frame_html, html_document, section

_NOTE = ("forgetting = drop on the old holdout against do_nothing (positive = forgot); "
         "gain_new = gain on the new holdout against do_nothing.")


def _gate_section(decision: Any) -> str:
    """The gate's checks (and regressions, when the decision has them) as a pass/fail table."""
    checks = getattr(decision, "checks", None)
    rows: list[dict[str, Any]] = []
    if isinstance(checks, pd.DataFrame):
        rows = checks.to_dict("records")
    elif isinstance(checks, (list, tuple)):
        rows = [c if isinstance(c, dict) else {"check": str(c)} for c in checks]
    for reg in getattr(decision, "regressions", None) or []:
        rows.append(reg if isinstance(reg, dict) else {"regression": str(reg)})
    verdict = getattr(decision, "accepted", getattr(decision, "passed", None))
    head = f'<p class="note">Decision: {escape("pass" if verdict else "fail" if verdict is not None else decision)}</p>'
    table = frame_html(pd.DataFrame(rows)) if rows else ""
    return section("Gate", head, table)


def comparison_html(table: Any, decision: Any = None, *, title: str = "Retraining strategies compared") -> str:
    """A self-contained report of a ComparisonTable (table, plot and, when given, the gate's decision)."""
    body = [
        section("Strategies", frame_html(table.frame),
                f'<p class="note">Metric: {escape(table.metric)}. {_NOTE}</p>'),
        section("Plot", figure_html(table.figure(), "Scores per strategy on the old and new holdouts")),
    ]
    if decision is not None:
        body.append(_gate_section(decision))
    return html_document(title, body)
