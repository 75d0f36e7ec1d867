"""The strategy comparison's HTML report (ComparisonTable.to_html delegates here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from curakit.html import escape, figure_html, format_number, frame_html, html_document, legend_html, section

_LEGEND = {
    "strategy": "how the candidate was retrained; do_nothing is the incumbent as it is",
    "old / new": "the metric on the old and the new holdout",
    "forgetting": "drop on the old holdout against do_nothing (positive = forgot)",
    "gain_new": "gain on the new holdout against do_nothing",
    "slice:<name>:<set> or <slice> (<set>)": "the metric on the rows of a slice in that holdout (— = no such rows)",
    "vs_naive:<set>": "accuracy difference against the naive baseline (retrain with no fills, replay or weights)",
    "vs_naive:<set>:low / :high": "95% paired-bootstrap interval of that difference",
    "train_time": "seconds spent retraining",
    "n_train": "training rows used",
}


def readable_columns(frame: pd.DataFrame, slice_names: dict[str, str] | None = None) -> pd.DataFrame:
    """``slice:<id>:<set>`` columns renamed ``<description> (<set>)`` for the slices in ``slice_names``
    (slice id -> readable description); other columns unchanged."""
    names = slice_names or {}
    ren = {}
    for col in frame.columns:
        head, _, rest = str(col).partition(":")
        sid, _, set_name = rest.rpartition(":")
        if head == "slice" and sid in names:
            ren[col] = f"{names[sid]} ({set_name})"
    return frame.rename(columns=ren)


def _verdict(table: Any, decision: Any) -> str:
    """One sentence: what was compared and which strategy leads on the new holdout."""
    frame = table.frame
    head = f"{len(frame)} strategies compared on {table.metric}"
    if "new" in frame.columns and frame["new"].notna().any():
        cands = frame[frame["strategy"] != "naive"]
        cands = cands if cands["new"].notna().any() else frame
        best = cands.loc[cands["new"].astype(float).idxmax()]
        head += f"; best on the new holdout (naive baseline aside): {best['strategy']} ({format_number(best['new'], 3)})"
        if "forgetting" in frame.columns:
            head += f", forgetting {format_number(best['forgetting'], 3)}"
    if decision is not None:
        verdict = getattr(decision, "accepted", getattr(decision, "passed", None))
        head += f"; gate: {'pass' if verdict else 'fail' if verdict is not None else decision}"
    return head + "."


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


def comparison_html(table: Any, decision: Any = None, *, title: str = "Retraining strategies compared",
                    slice_names: dict[str, str] | None = None) -> str:
    """A self-contained report of a ComparisonTable (table, plot and, when given, the gate's decision);
    ``slice_names`` (slice id -> description) names the slice columns readably."""
    body = [
        section("Strategies", frame_html(readable_columns(table.frame, slice_names)), f'<p class="note">Metric: {escape(table.metric)}.</p>',
                legend_html(_LEGEND, "Columns explained")),
        section("Plot", figure_html(table.figure(), "Scores per strategy on the old and new holdouts")),
    ]
    if decision is not None:
        body.append(_gate_section(decision))
    return html_document(title, body, verdict=_verdict(table, decision))
