"""Search-asymmetry analysis (docs/eccnet.md §4): fixation counts -> RT -> slopes -> asymmetry index.

* RT(s) = 252.359 * mean N + 376.271 ms, N = model fixations to the target excluding the start;
  unfound trials count as N = set size (the published definition). Both constants are upstream's.
* slope = ordinary-least-squares slope of RT(s) on the set size s.
* AI = (s_H - s_L) / (s_H + s_L) with s = max(0, slope) and 0 if both are 0; H / L of each experiment are
  fixed by the HUMAN slopes (H = larger human slope), so +1 = human polarity, -1 = fully reversed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.io.text import read_text

RT_MS_PER_FIXATION = 252.359
RT_INTERCEPT_MS = 376.271

#: experiment -> its two condition ids (keys of the human CSV's ``condition`` column)
EXPERIMENT_PAIRS: dict[str, tuple[str, str]] = {
    "exp1": ("curve_in_lines", "line_in_curves"),
    "exp2": ("top_down", "left_right"),
    "exp3": ("non_cross", "cross"),
    "exp4": ("Ts", "Ls"),
    "exp5": ("homo_t20", "homo_t0"),
    "exp6": ("hetero_t0", "hetero_t20"),
}
HUMAN_CSV_COLUMNS = ("condition", "description", "set_size", "human_rt_ms", "human_slope_ms_per_item")


def default_human_csv() -> Path:
    """``../shared/data/asymmetry/human_rt_digitized.csv`` relative to the repository root."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "asymmetry" / "human_rt_digitized.csv"


def rt_from_fixations(n: np.ndarray | float) -> np.ndarray | float:
    """Model reaction time in ms from a (mean) number of fixations."""
    return RT_MS_PER_FIXATION * np.asarray(n, dtype=np.float64) + RT_INTERCEPT_MS


def effective_fixations(n_fix: np.ndarray, found: np.ndarray, set_size: np.ndarray) -> np.ndarray:
    """N per trial with unfound trials counted as their set size."""
    n_fix = np.asarray(n_fix, dtype=np.float64)
    return np.where(np.asarray(found, bool), n_fix, np.asarray(set_size, dtype=np.float64))


def ols_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of y on x (NaN with fewer than two distinct x)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if len(x) < 2 or sxx == 0.0:
        return float("nan")
    return float(dx @ (y - y.mean()) / sxx)


def rt_by_set_size(n_eff: np.ndarray, set_size: np.ndarray) -> dict[int, float]:
    """Mean RT (ms) per set size from per-trial effective fixation counts."""
    n_eff = np.asarray(n_eff, dtype=np.float64)
    set_size = np.asarray(set_size)
    return {int(s): float(rt_from_fixations(n_eff[set_size == s].mean())) for s in np.unique(set_size)}


def rt_slope(n_eff: np.ndarray, set_size: np.ndarray) -> float:
    """OLS slope (ms/item) of mean RT(s) on s."""
    rts = rt_by_set_size(n_eff, set_size)
    return ols_slope(list(rts), list(rts.values()))


def asymmetry_index(model_slopes: Mapping[str, float], human_slopes: Mapping[str, float]) -> dict[str, float]:
    """Per-experiment asymmetry index with the human-defined polarity, plus ``"mean"``.

    Keys of both mappings are condition ids as in the human CSV's ``condition`` column. Experiments
    with a condition missing from either mapping are left out (and out of the mean).
    """
    out: dict[str, float] = {}
    for exp, (a, b) in EXPERIMENT_PAIRS.items():
        if not all(k in model_slopes and k in human_slopes for k in (a, b)):
            continue
        hi, lo = (a, b) if human_slopes[a] > human_slopes[b] else (b, a)
        s_h = max(0.0, float(model_slopes[hi]))
        s_l = max(0.0, float(model_slopes[lo]))
        if math.isnan(s_h) or math.isnan(s_l):
            out[exp] = float("nan")
        else:
            out[exp] = 0.0 if s_h + s_l == 0.0 else (s_h - s_l) / (s_h + s_l)
    if out:
        out["mean"] = float(np.mean(list(out.values())))
    return out


def slope_correlation(model_slopes: Mapping[str, float], human_slopes: Mapping[str, float]) -> dict[str, float]:
    """Pearson r (and two-sided p) of human vs model slopes over the shared conditions."""
    from scipy import stats

    keys = [k for k in human_slopes if k in model_slopes]
    h = np.array([human_slopes[k] for k in keys], dtype=np.float64)
    m = np.array([model_slopes[k] for k in keys], dtype=np.float64)
    if len(keys) < 3 or np.ptp(h) == 0 or np.ptp(m) == 0 or not np.all(np.isfinite(m)):
        return {"r": float("nan"), "p": float("nan"), "n": len(keys)}
    r, p = stats.pearsonr(h, m)
    return {"r": float(r), "p": float(p), "n": len(keys)}


def nested_f_test(rt: np.ndarray, set_size: np.ndarray, is_second: np.ndarray) -> dict[str, float]:
    """Nested OLS F-test of RT ~ s against RT ~ s * condition (one experiment, trial-level RTs)."""
    from scipy import stats

    rt = np.asarray(rt, np.float64)
    s = np.asarray(set_size, np.float64)
    c = np.asarray(is_second, np.float64)
    one = np.ones_like(s)
    reduced = np.stack([one, s], 1)
    full = np.stack([one, s, c, s * c], 1)

    def rss(X: np.ndarray) -> float:
        beta, *_ = np.linalg.lstsq(X, rt, rcond=None)
        r = rt - X @ beta
        return float(r @ r)

    n = len(rt)
    rss_r, rss_f = rss(reduced), rss(full)
    df1, df2 = 2, n - 4
    if df2 <= 0 or rss_f == 0.0:
        return {"F": float("nan"), "p": float("nan"), "df1": df1, "df2": df2}
    F = ((rss_r - rss_f) / df1) / (rss_f / df2)
    return {"F": float(F), "p": float(stats.f.sf(F, df1, df2)), "df1": df1, "df2": df2}


@dataclasses.dataclass
class HumanRT:
    """Human mean RTs of one condition as digitised in the CSV."""

    condition: str
    description: str
    set_sizes: list[int]
    rt_ms: list[float]
    csv_slope: float

    @property
    def slope(self) -> float:
        """OLS slope fitted to the digitised RTs (matches the CSV's slope column)."""
        return ols_slope(self.set_sizes, self.rt_ms)


def read_human_rt(path: str | Path | None = None) -> dict[str, HumanRT]:
    """Read the human RT CSV (columns ``condition, description, set_size, human_rt_ms,
    human_slope_ms_per_item``). Malformed rows raise :class:`ScanpathDataError` naming the row and field.
    """
    path = Path(path) if path is not None else default_human_csv()
    out: dict[str, HumanRT] = {}
    with io.StringIO(read_text(path, "human RT file"), newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in HUMAN_CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ScanpathDataError(f"missing column(s) {missing}; header is {reader.fieldnames}", file=path,
                                    record="header", field=missing[0])
        for i, row in enumerate(reader, start=2):  # row 1 is the header
            cond = (row.get("condition") or "").strip()
            if not cond:
                raise ScanpathDataError("empty condition", file=path, record=f"row {i}", field="condition")
            vals = {}
            for field, typ in (("set_size", int), ("human_rt_ms", float), ("human_slope_ms_per_item", float)):
                raw = row.get(field)
                try:
                    v = typ(float(raw)) if typ is int else typ(raw)
                    if typ is int and float(raw) != v:
                        raise ValueError
                except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf), int(1e400)
                    raise ScanpathDataError(f"expected a finite number, got {raw!r}", file=path, record=f"row {i}",
                                            field=field) from None
                if not math.isfinite(v) or (field == "set_size" and v < 1) or (field == "human_rt_ms" and v <= 0):
                    raise ScanpathDataError(f"invalid value {raw!r}", file=path, record=f"row {i}", field=field)
                vals[field] = v
            h = out.setdefault(cond, HumanRT(cond, row.get("description") or "", [], [],
                                             vals["human_slope_ms_per_item"]))
            if vals["set_size"] in h.set_sizes:
                raise ScanpathDataError(f"duplicate set size {vals['set_size']} for {cond}", file=path,
                                        record=f"row {i}", field="set_size")
            h.set_sizes.append(vals["set_size"])
            h.rt_ms.append(vals["human_rt_ms"])
    if not out:
        raise ScanpathDataError("no data rows", file=path)
    return out


def human_slopes(path: str | Path | None = None) -> dict[str, float]:
    """OLS slope per condition fitted to the human CSV."""
    return {c: h.slope for c, h in read_human_rt(path).items()}


def read_found_at(path: str | Path) -> np.ndarray:
    """Per-trial N from an (upstream-style) ``found_at.csv`` one-hot table; -1 where the row is all zeros."""
    path = Path(path)
    text = read_text(path, "found_at table")
    try:
        arr = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
    except ValueError as e:
        raise ScanpathDataError(f"not a numeric table: {e}", file=path) from None
    bad = np.argwhere((arr != 0) & (arr != 1))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise ScanpathDataError(f"column {j} is {float(arr[i, j])!r}; a one-hot table holds only 0 and 1", file=path,
                                record=i)
    n = np.full(len(arr), -1, np.int64)
    for i, row in enumerate(arr):
        hit = np.flatnonzero(row)
        if len(hit) > 1:
            raise ScanpathDataError(f"row has {len(hit)} non-zero columns, expected one-hot", file=path, record=i)
        if len(hit):
            n[i] = hit[0]
    return n


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
