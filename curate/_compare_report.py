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
    "negative_flips:<set>": "share of that holdout's rows the incumbent got right and this model gets wrong",
    "select_<set> / select_forgetting": "with a selection split: the score on (and the drop on the old part of) "
                                        "the selection half, where best() picks; <set> is then the scoring half",
    "error": "why a strategy could not run on this data (its row then has no scores)",
    "train_time": "seconds spent retraining",
    "n_train": "training rows used",
    "n": "rows scored (a slice's rows in that eval set); small n = wide interval",
    "low / high": "95% interval of the score",
}


def short_name(description: str, limit: int = 48) -> str:
    """A slice's name for a column header: its description up to the first ``": "`` (descriptions
    such as ``"embedding cluster 2: 48 rows, error 77% ..."`` carry their numbers after it), at most
    ``limit`` characters."""
    head = str(description).split(": ", 1)[0].strip() or str(description)
    return head if len(head) <= limit else head[: limit - 1] + "…"


def readable_columns(frame: pd.DataFrame, slice_names: dict[str, str] | None = None) -> pd.DataFrame:
    """``slice:<id>:<set>`` columns renamed ``<short description> (<set>)`` for the slices in
    ``slice_names`` (slice id -> readable description, see :func:`short_name`); others unchanged."""
    names = slice_names or {}
    ren = {}
    for col in frame.columns:
        head, _, rest = str(col).partition(":")
        sid, _, set_name = rest.rpartition(":")
        if head == "slice" and sid in names:
            ren[col] = f"{short_name(names[sid])} ({set_name})"
    return frame.rename(columns=ren)


def slice_legend(slice_names: dict[str, str] | None) -> dict[str, str]:
    """Legend entries: each slice's short column name -> its full description and id."""
    return {short_name(d): f"{d} (id {sid})" for sid, d in (slice_names or {}).items()}


def _decision_parts(decision: Any) -> tuple[bool | None, list[str], dict[str, Any], list[Any]]:
    """(passed, reasons, checks, regressions) of a GateDecision, a registry Promotion or their dicts."""
    if isinstance(decision, dict):
        d = decision.get("decision", decision) if isinstance(decision.get("decision"), dict) else decision
        passed = d.get("passed", decision.get("promoted"))
        return passed, list(d.get("reasons", decision.get("reasons", []))), dict(d.get("checks", {})), list(d.get("regressions", []))
    inner = getattr(decision, "decision", None)
    if isinstance(inner, dict):  # a registry Promotion
        passed, reasons, checks, regs = _decision_parts(inner)
        return getattr(decision, "promoted", passed), list(getattr(decision, "reasons", reasons)), checks, regs
    passed = getattr(decision, "passed", getattr(decision, "promoted", getattr(decision, "accepted", None)))
    return (passed, list(getattr(decision, "reasons", ()) or ()), dict(getattr(decision, "checks", None) or {}),
            list(getattr(decision, "regressions", None) or ()))


def _verdict(table: Any, decision: Any) -> str:
    """One sentence: what was compared, which strategy leads on the new holdout, the gate's decision."""
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
        passed = _decision_parts(decision)[0]
        head += f"; gate: {'pass' if passed else 'fail' if passed is not None else 'no decision'}"
    return head + "."


def _check_rows(checks: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, c in checks.items():
        c = c if isinstance(c, dict) else {"passed": c}
        bound = c.get("lower", c.get("upper"))
        searched = "regions_tested" in c  # the regression search: regions searched / failing (pooled)
        rows.append({"check": name.replace("_", " "), "result": "pass" if c.get("passed") else "fail",
                     "observed": c.get("observed"), "95% bound": bound,
                     "slices checked": c.get("regions_tested") if searched else c.get("n"),
                     "slices failing": c.get("regions_failed") if searched else c.get("failed")})
    return rows


def _regression_rows(regressions: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for reg in regressions:
        d = reg if isinstance(reg, dict) else {"description": getattr(reg, "description", str(reg)),
                                               "size": getattr(reg, "size", None),
                                               "evidence": getattr(reg, "evidence", {})}
        ev = d.get("evidence", {}) or {}
        rows.append({"eval set": d.get("eval_set", ev.get("eval_set")), "slice": d.get("description"),
                     "rows": d.get("size"), "drop": ev.get("drop"), "95% lower bound": ev.get("lower")})
    return rows


def _gate_section(decision: Any) -> str:
    """The gate's checks (and the regressions found) as pass/fail tables, with its reasons."""
    passed, reasons, checks, regressions = _decision_parts(decision)
    verdict = "pass: the candidate may be promoted" if passed else "fail: the candidate is not promoted" \
        if passed is not None else "no decision"
    parts = [f"<p><b>Decision: {escape(verdict)}</b></p>"]
    if checks:
        parts.append(frame_html(pd.DataFrame(_check_rows(checks)), digits=3))
    if reasons:
        parts.append("<ul>" + "".join(f"<li>{escape(r)}</li>" for r in reasons) + "</ul>")
    parts.append("<p>Regressions found</p>" + frame_html(pd.DataFrame(_regression_rows(regressions)), digits=3)
                 if regressions else '<p class="note">Regressions found: none.</p>')
    return section("Gate", *parts)


def _slices_section(table: Any) -> str:
    """Per-slice before/after bars and the slice scores with their row counts and intervals."""
    iv = table.intervals() if hasattr(table, "intervals") else None
    if iv is None or not (iv["slice"] != "").any():
        return ""
    fig = table.slice_figure()
    sl = iv[iv["slice"] != ""].copy()
    sl["score"] = sl["score"].where(sl["n"] > 0)
    shown = sl[["slice_name", "eval_set", "strategy", "n", "score", "low", "high"]].rename(columns={"slice_name": "slice"})
    parts = [figure_html(fig, "Each weak slice's score before (do_nothing) and after retraining, with its row count")
             if fig is not None else '<p class="note">No slice has rows in an eval set.</p>',
             f"<details><summary>Slice scores with row counts and 95% intervals</summary>{frame_html(shown)}</details>"]
    return section("Slices before and after", *parts)


def _intervals_section(table: Any) -> str:
    if not hasattr(table, "intervals"):
        return ""
    iv = table.intervals()
    whole = iv[iv["slice"] == ""][["strategy", "eval_set", "n", "score", "low", "high"]]
    return f"<details><summary>Scores with row counts and 95% intervals</summary>{frame_html(whole)}</details>"


def _selection_note(table: Any) -> str:
    """With a selection split: where the pick is made and where it is judged, and the naive baseline
    under the same rule (a user who may not pick naive keeps the incumbent)."""
    sel = getattr(table, "selection", None) or {}
    if not sel:
        return ""
    sizes = ", ".join(f"{name}: {len(r['select'])} selection / {len(r['score'])} scoring rows"
                      for name, r in sel.get("rows", {}).items())
    note = (f"Each holdout was split (share {sel.get('fraction')}, stratified, seed {sel.get('random_state')}) "
            f"into a selection part (select_&lt;set&gt; columns, where best() picks) and a scoring part "
            f"(the &lt;set&gt; columns and the gate): {escape(sizes)}.")
    return f'<p class="note">{note}</p>'


def comparison_html(table: Any, decision: Any = None, *, title: str = "Retraining strategies compared",
                    slice_names: dict[str, str] | None = None) -> str:
    """A self-contained report of a ComparisonTable (table, plots with intervals, slices before and
    after and, when given, the gate's decision); ``slice_names`` (slice id -> description, default
    the table's own) names the slice columns readably."""
    names = slice_names if slice_names is not None else getattr(table, "slice_names", None)
    body = [
        section("Strategies", frame_html(readable_columns(table.frame, names), digits=3), f'<p class="note">Metric: {escape(table.metric)}.</p>',
                _selection_note(table), legend_html({**_LEGEND, **slice_legend(names)}, "Columns explained")),
        section("Plot", figure_html(table.figure(), "Scores per strategy on the old and new holdouts, with 95% "
                                    "intervals (Wilson for accuracy, else a bootstrap)"), _intervals_section(table)),
        _slices_section(table),
    ]
    if decision is not None:
        body.append(_gate_section(decision))
    return html_document(title, body, verdict=_verdict(table, decision))
