"""Time handling for the training-set builder: parsing time columns and time windows.

Times are kept as one comparable numpy array per source: int64 nanoseconds for datetimes,
float64 for numeric time columns, or the arrival order (old rows, then new rows) when the
sources have no time column.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError

__all__ = ["TimeAxis", "WindowSpec", "check_time", "parse_time", "parse_window", "raise_time_problem"]


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """How times compare: ``"datetime"`` (int64 ns), ``"numeric"`` (float64) or ``"order"``."""

    kind: str

    def span(self, value: Any, owner: str, name: str) -> float | int:
        """A window length in this axis' units (a Timedelta string for datetimes)."""
        if self.kind == "datetime":
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                raise ParameterError(
                    f"The {name!r} parameter of {owner} must be a duration such as '180D' for a datetime time "
                    f"column. Got {value!r} instead."
                )
            try:
                delta = pd.Timedelta(value)
            except (TypeError, ValueError) as exc:
                raise ParameterError(
                    f"The {name!r} parameter of {owner} must be a duration such as '180D' or '12h'. "
                    f"Got {value!r} instead."
                ) from exc
            if delta <= pd.Timedelta(0):
                raise ParameterError(f"The {name!r} parameter of {owner} must be a positive duration. Got {value!r} instead.")
            return int(delta.value)
        if self.kind == "order":
            if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0:
                return int(value)
            raise ParameterError(
                f"The {name!r} parameter of {owner} needs a time column for durations: pass time= to "
                f"TrainingSetBuilder, or give a positive number of rows. Got {value!r} instead."
            )
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0:
            return float(value)
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a positive number for a numeric time column. "
            f"Got {value!r} instead."
        )

    def point(self, value: Any, owner: str, name: str) -> float | int:
        """A time point (window start/end) in this axis' units."""
        if self.kind == "datetime":
            try:
                ts = pd.Timestamp(value)
            except (TypeError, ValueError) as exc:
                raise ParameterError(
                    f"The {name!r} parameter of {owner} must be a date such as '2015-01-31'. Got {value!r} instead."
                ) from exc
            if ts.tzinfo is not None:
                ts = ts.tz_convert("UTC").tz_localize(None)
            return int(ts.as_unit("ns").value)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return value
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a number for a {self.kind} time axis. Got {value!r} instead."
        )

    def format(self, value: float | int) -> str:
        if self.kind == "datetime":
            ts = pd.Timestamp(int(value))
            return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
        if self.kind == "order":
            return f"row {int(value)}"
        return f"{value:g}"


def check_time(column: pd.Series) -> tuple[str, int, str | None, pd.Series | None]:
    """(axis kind, number of bad values, parse error type or None, the parsed column or None) of a
    time column, raising nothing: the Dask engine adds these up over partitions."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return "boolean", 0, None, None
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return "numeric", int(np.count_nonzero(~np.isfinite(values))), None, column
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        parsed = column.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(column.dtype):
        parsed = column
    else:
        try:
            parsed = pd.to_datetime(column, errors="raise", format="mixed")
        except (TypeError, ValueError, OverflowError) as exc:
            return "datetime", 0, type(exc).__name__, None
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return "datetime", int(parsed.isna().sum()), None, parsed


def raise_time_problem(kind: str, bad: int, error: str | None, source: str, name: str) -> None:
    """The one-line error for a time column that :func:`check_time` found unusable (else nothing)."""
    if kind == "boolean":
        raise DataError(f"The time column {name!r} of {source} is boolean. Pass a date or numeric time column.")
    if error is not None:
        raise DataError(
            f"The time column {name!r} of {source} does not parse as dates ({error}). "
            "Pass ISO dates such as '2015-01-31', or convert it with pd.to_datetime first."
        )
    if bad and kind == "numeric":
        raise DataError(
            f"The time column {name!r} of {source} has {bad} missing or infinite value(s). "
            "Fill or drop those rows before building."
        )
    if bad:
        raise DataError(
            f"The time column {name!r} of {source} has {bad} missing value(s). Fill or drop those rows before building."
        )


def parse_time(column: pd.Series, source: str, name: str) -> tuple[np.ndarray, str, pd.Series]:
    """(comparable times, axis kind, the column as stored in the training set)."""
    kind, bad, error, parsed = check_time(column)
    raise_time_problem(kind, bad, error, source, name)
    if kind == "numeric":
        return column.to_numpy(dtype=np.float64, na_value=np.nan), "numeric", column
    ns = parsed.astype("datetime64[ns]").to_numpy().view(np.int64)
    return ns, "datetime", parsed.astype("datetime64[ns]")


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """One window: the latest ``last`` (duration / numeric span), the latest ``last_n`` rows,
    rows between ``start`` and ``end`` (inclusive), or every row (``all``)."""

    last: Any = None
    last_n: int | None = None
    start: Any = None
    end: Any = None

    @property
    def is_all(self) -> bool:
        return self.last is None and self.last_n is None and self.start is None and self.end is None

    def label(self) -> str:
        if self.is_all:
            return "all"
        if self.last is not None:
            return f"last={self.last}"
        if self.last_n is not None:
            return f"last_n={self.last_n}"
        return f"start={self.start},end={self.end}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "last": None if self.last is None else str(self.last),
            "last_n": self.last_n,
            "start": None if self.start is None else str(self.start),
            "end": None if self.end is None else str(self.end),
        }

    def validate(self, axis: TimeAxis, owner: str) -> None:
        if self.last is not None:
            axis.span(self.last, owner, "last")
        if self.start is not None:
            axis.point(self.start, owner, "start")
        if self.end is not None:
            axis.point(self.end, owner, "end")
        if self.start is not None and self.end is not None:
            if axis.point(self.start, owner, "start") > axis.point(self.end, owner, "end"):
                raise ParameterError(f"The window of {owner} starts after it ends. Pass start <= end.")

    def mask(self, t: np.ndarray, axis: TimeAxis, owner: str, *, ref: float | int | None = None) -> np.ndarray:
        """Rows of ``t`` in the window; ``last`` / ``last_n`` count back from ``ref`` (default: max of t)."""
        if len(t) == 0:
            return np.zeros(0, dtype=bool)
        if self.is_all:
            return np.ones(len(t), dtype=bool)
        if ref is None:
            ref = t.max()
        if self.last is not None:
            span = axis.span(self.last, owner, "last")
            return (t > ref - span) & (t <= ref)
        if self.last_n is not None:
            m = np.zeros(len(t), dtype=bool)
            eligible = np.flatnonzero(t <= ref)
            if len(eligible) <= self.last_n:
                m[eligible] = True
                return m
            order = np.argsort(t[eligible], kind="stable")  # ties: later rows (new after old) are later
            m[eligible[order[-self.last_n :]]] = True
            return m
        m = np.ones(len(t), dtype=bool)
        if self.start is not None:
            m &= t >= axis.point(self.start, owner, "start")
        if self.end is not None:
            m &= t <= axis.point(self.end, owner, "end")
        return m


def parse_window(value: Any, owner: str) -> WindowSpec:
    """A candidate window: '180D' / a number (``last``), an int with ``last_n`` semantics is
    given as {'last_n': 5000}, a dict of WindowSpec fields, or None / 'all' for every row."""
    if value is None or (isinstance(value, str) and value == "all"):
        return WindowSpec()
    if isinstance(value, WindowSpec):
        return value
    if isinstance(value, str) or (isinstance(value, numbers.Real) and not isinstance(value, bool)):
        return WindowSpec(last=value)
    if isinstance(value, dict):
        unknown = set(value) - {"last", "last_n", "start", "end"}
        if unknown:
            raise ParameterError(
                f"A window of {owner} takes the keys ['last', 'last_n', 'start', 'end']. Got {sorted(unknown)} instead."
            )
        return _make_window(owner, **value)
    raise ParameterError(
        f"A candidate window of {owner} must be a duration such as '180D', a dict such as {{'last_n': 5000}}, "
        f"or None for all rows. Got {type(value).__name__} instead."
    )


def _make_window(owner: str, last: Any = None, last_n: Any = None, start: Any = None, end: Any = None) -> WindowSpec:
    given = [k for k, v in (("last", last), ("last_n", last_n), ("start/end", start if start is not None else end)) if v is not None]
    if len(given) > 1:
        raise ParameterError(f"{owner} takes one of last=, last_n= or start=/end=. Got {given} together.")
    if last_n is not None:
        if not isinstance(last_n, numbers.Integral) or isinstance(last_n, bool) or last_n < 1:
            raise ParameterError(
                f"The 'last_n' parameter of {owner} must be an int in the range [1, inf). Got {last_n!r} instead."
            )
        last_n = int(last_n)
    return WindowSpec(last=last, last_n=last_n, start=start, end=end)
