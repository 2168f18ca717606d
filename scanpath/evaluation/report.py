"""Outputs of every evaluation flow: ``metrics.json`` (one schema), ``metrics.md``, the console table
and the PNG table — one JSON-cleaning helper, one table renderer.

A flow (the plain pipeline or a protocol) returns an :class:`EvaluationResult`; :func:`write_report`
validates it against :mod:`scanpath.evaluation.schema` and writes every file atomically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scanpath.evaluation.schema import SCHEMA_VERSION, validate_metrics
from scanpath.io.atomic import atomic_write_json, atomic_write_text
from scanpath.io.jsonable import to_plain
from scanpath.metrics.uncertainty import METHOD

log = logging.getLogger(__name__)

SYNTHETIC_BANNER = "SYNTHETIC — not human data"
UNTRAINED_LABEL = "untrained (random weights)"
HUMAN_ROW = "Human"
PER_STIMULUS = "per_stimulus.json"
#: mark after the row label of a row scored on another stimulus set than the others
DIFFERENT_SET_MARK = " †"
#: mark after the row label of a row run with settings changed from its model config (``settings_note``)
CHANGED_SETTINGS_MARK = " ‡"


@dataclasses.dataclass
class EvaluationResult:
    """What every evaluation flow returns: rows, settings, skipped entries, figures, extra text."""

    settings: dict[str, Any]
    rows: dict[str, dict[str, Any]]
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    figures: list[str] = dataclasses.field(default_factory=list)
    #: extra markdown sections appended to metrics.md (e.g. the asymmetry slope table)
    sections: dict[str, str] = dataclasses.field(default_factory=dict)
    #: per-stimulus scanpath records for the report's playback (:func:`html_report.stimulus_records`)
    stimuli: list[dict[str, Any]] | None = None

    def payload(self) -> dict[str, Any]:
        """The ``metrics.json`` payload (plain JSON types; NaN kept, as the metric spec allows). The
        per-stimulus values behind each SEM / CI go to ``per_stimulus.json`` (:meth:`per_stimulus`)."""
        rows = {name: _normalise_row(row) for name, row in self.rows.items()}
        for row in rows.values():
            for res in row["metrics"].values():
                res.pop("per_stimulus", None)
        return json_clean({"schema_version": SCHEMA_VERSION, "settings": self.settings, "rows": rows,
                           "skipped": {str(k): str(v) for k, v in self.skipped.items()},
                           "figures": [str(f) for f in self.figures]})

    def per_stimulus(self) -> dict[str, Any]:
        """``{row: {metric: {stimulus: value}}}``: the per-stimulus means the SEM and CI are computed from."""
        out = {name: {str(e): res["per_stimulus"] for e, res in (row.get("metrics") or {}).items()
                      if res.get("per_stimulus") is not None}
               for name, row in self.rows.items()}
        return json_clean({"unit": METHOD["unit"], "rows": {n: m for n, m in out.items() if m}})


def json_clean(obj: Any) -> Any:
    """Config containers, tuples, numpy/torch scalars and arrays, Paths → plain JSON types."""
    return to_plain(obj)


def _normalise_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the schema's bookkeeping fields a metric function did not report (n, n_nan, params)."""
    out = dict(row)
    n_pred = int(out.get("n_predictions", 0) or 0)
    metrics = {}
    for name, res in (out.get("metrics") or {}).items():
        res = dict(res)
        res.setdefault("params", {})
        res.setdefault("higher_is_better", None)
        v = res.get("value")
        res.setdefault("n", n_pred if v is not None and _finite(v) else 0)
        res.setdefault("n_nan", 0)
        metrics[str(name)] = res
    out["metrics"] = metrics
    out["n_predictions"] = n_pred
    return out


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------------------------ tables
def fmt_value(v: Any) -> str:
    """A table cell: 3 decimals, 1 above 1000, ``nan`` / ``–`` for missing."""
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "nan"
    return f"{f:.3f}" if abs(f) < 1000 else f"{f:.1f}"


def _arrow(higher_is_better: bool | None) -> str:
    return "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")


def fmt_cell(res: Mapping[str, Any], dim: str | None, row_n: int | None) -> str:
    """``value ± SEM`` (SEM over stimuli when known) and ``(n=…)`` when the cell was scored on fewer
    stimuli than its row."""
    v = res.get("value") if dim is None else (res.get("values") or {}).get(dim)
    text = fmt_value(v)
    if not _finite(v):
        return text
    sem = res.get("sem") if dim is None else (res.get("values_sem") or {}).get(dim)
    n = res.get("n_stimuli") if dim is None else (res.get("values_n_stimuli") or {}).get(dim)
    if _finite(sem):
        text += f" ± {float(sem):.{1 if abs(float(v)) >= 1000 else 3}f}"
    if n is not None and row_n is not None and int(n) != int(row_n):
        text += f" (n={int(n)})"
    return text


def _cell(row: Mapping[str, Any], entry: str, dim: str | None) -> float | None:
    res = (row.get("metrics") or {}).get(entry)
    if res is None:
        return None
    v = res.get("value") if dim is None else (res.get("values") or {}).get(dim)
    return float(v) if _finite(v) else None


def dropped_columns(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Columns left out of the tables, with the reason: no finite value in any row (e.g. durations on
    data without durations), or a sub-dimension equal to its metric's value in every row of a
    table of several rows (``sed.distance`` next to ``sed``)."""
    out: dict[str, str] = {}
    for title, entry, dim in _all_columns(rows):
        vals = [_cell(r, entry, dim) for r in rows.values()]
        if all(v is None for v in vals):
            reasons = {str(r["metrics"][entry]["skipped_reason"]) for r in rows.values()
                       if (r.get("metrics") or {}).get(entry, {}).get("skipped_reason")}
            out[title] = ("skipped in every row: " + "; ".join(sorted(reasons)) if reasons and len(reasons) == 1
                          else "no finite value in any row (the data or the predictions lack what it needs)")
        elif dim is not None and len(rows) > 1 and all(_cell(r, entry, dim) == _cell(r, entry, None)
                                                       for r in rows.values()):
            out[title] = f"equal to {entry} in every row"
        elif dim is not None and len(rows) > 2 and len(set(vals)) == 1:
            out[title] = f"the same in every row ({fmt_value(vals[0])}; a reference value, e.g. the humans' statistic)"
    return out


def table_columns(rows: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(column title, metric entry, sub-dimension or None) in the order metrics first appear, without
    the columns :func:`dropped_columns` lists."""
    dropped = dropped_columns(rows)
    return [c for c in _all_columns(rows) if c[0] not in dropped]


def _all_columns(rows: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str | None]]:
    cols: list[tuple[str, str, str | None]] = []
    seen: set[tuple[str, str | None]] = set()
    for row in rows.values():
        for entry, res in (row.get("metrics") or {}).items():
            if (entry, None) not in seen:
                seen.add((entry, None))
                cols.append((f"{entry}{_arrow(res.get('higher_is_better'))}", entry, None))
            dirs = res.get("dim_higher_is_better") or {}
            for dim in (res.get("values") or {}):
                if (entry, dim) not in seen:
                    seen.add((entry, dim))
                    cols.append((f"{entry}.{dim}{_arrow(dirs.get(dim, res.get('higher_is_better')))}", entry, dim))
    return cols


N_COLUMN = "n"


def row_label(name: str, row: Mapping[str, Any]) -> str:
    """``name (role)``, ``(untrained)`` for random-weight rows, ``†`` for another stimulus set."""
    label = f"{name} ({row.get('role', '')})" if row.get("role") else name
    if row.get("untrained") and "untrained" not in name:
        label += " (untrained)"
    if row.get("settings_note"):
        label += CHANGED_SETTINGS_MARK
    return label + (DIFFERENT_SET_MARK if row.get("stimuli_differ") else "")


def settings_notes(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One note line per row run with changed settings (``settings_note``, e.g. a leaderboard's
    reduced CPU budget for a model)."""
    return [f"- {CHANGED_SETTINGS_MARK.strip()} {name}: {row['settings_note']}"
            for name, row in rows.items() if row.get("settings_note")]


def format_rows(rows: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Column titles and formatted cells (``value ± SEM``) per row label (:func:`row_label`); the last
    column ``n`` is the number of stimuli the row was scored on when known."""
    cols = table_columns(rows)
    with_n = any(r.get("n_stimuli") is not None for r in rows.values())
    out: dict[str, dict[str, str]] = {}
    for name, row in rows.items():
        cells = {}
        row_n = row.get("n_stimuli")
        for title, entry, dim in cols:
            res = (row.get("metrics") or {}).get(entry)
            if res is None:
                cells[title] = "–"
            elif res.get("skipped_reason"):  # could not apply: NaN, the reason is in the notes
                cells[title] = "nan"
            else:
                cells[title] = fmt_cell(res, dim, row_n)
        if with_n:
            cells[N_COLUMN] = "–" if row_n is None else str(int(row_n))
        out[row_label(name, row)] = cells
    return [c[0] for c in cols] + ([N_COLUMN] if with_n else []), out


# ------------------------------------------------------------------ stimulus sets, length notes
def row_stimuli(row: Mapping[str, Any]) -> set[str] | None:
    """Stimuli a row was scored on: the union of its metrics' per-stimulus keys (None: not known)."""
    keys: set[str] | None = None
    for res in (row.get("metrics") or {}).values():
        ps = res.get("per_stimulus")
        if ps is not None:
            keys = (keys or set()) | {str(k) for k in ps}
    return keys


def flag_stimulus_sets(rows: Mapping[str, dict[str, Any]]) -> None:
    """Set each row's ``n_stimuli``; when the rows were scored on different stimulus sets, mark every
    row whose set is not the union of all rows' sets (``stimuli_differ``, ``stimulus_note``)."""
    sets = {n: s for n, r in rows.items() if (s := row_stimuli(r)) is not None}
    union = set().union(*sets.values()) if sets else set()
    for name, keys in sets.items():
        row = rows[name]
        row["n_stimuli"] = len(keys)
        differ = keys != union
        row["stimuli_differ"] = differ
        if differ:
            row["stimulus_note"] = f"scored on {len(keys)} of the {len(union)} stimuli of this table"
        else:
            row.pop("stimulus_note", None)


def stimulus_notes(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One note line per row scored on another stimulus set."""
    def why(row: Mapping[str, Any]) -> str:
        if row.get("role") in ("human", "observer"):
            return "leave one subject out needs two subjects: stimuli seen by one subject have no human score"
        return "the model skipped or could not be scored on the others (e.g. a debug run)"

    return [f"- {DIFFERENT_SET_MARK.strip()} {name}: {row.get('stimulus_note') or 'scored on another stimulus set'} "
            f"({why(row)}); compare it with the other rows with care"
            for name, row in rows.items() if row.get("stimuli_differ")]


def length_notes(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A note per unnormalised-length metric (``length_dependent``: raw SED, DTW, FED) on which the
    human / observer row is worse than a model or baseline whose scanpaths are shorter on average."""
    lines = []
    for hname, hrow in rows.items():
        if hrow.get("role") not in ("human", "observer"):
            continue
        for entry, hres in (hrow.get("metrics") or {}).items():
            hv, hlen, hib = hres.get("value"), hres.get("mean_length"), hres.get("higher_is_better")
            if not (hres.get("length_dependent") and _finite(hv) and _finite(hlen) and hib is not None):
                continue
            beaten = []
            for name, row in rows.items():
                res = (row.get("metrics") or {}).get(entry) or {}
                v, length = res.get("value"), res.get("mean_length")
                if row.get("role") not in ("model", "baseline") or not (_finite(v) and _finite(length)):
                    continue
                worse = float(hv) < float(v) if hib else float(hv) > float(v)
                if worse and float(hlen) > float(length):
                    beaten.append((name, float(length)))
            if beaten:
                lengths = {round(x, 1) for _, x in beaten}
                others = (f"{lengths.pop():.1f}" if len(lengths) == 1
                          else ", ".join(f"{x:.1f} ({n})" for n, x in beaten))
                normalised = [f"{entry}.{d}" for d in (hres.get("values") or {}) if d == "similarity"]
                lines.append(
                    f"- {entry}: {hname} ranks below {', '.join(n for n, _ in beaten)} on an unnormalised distance "
                    f"that grows with scanpath length, and the human scanpaths are longer (mean {float(hlen):.1f} "
                    f"fixations vs {others}): part of that gap is length, not dissimilarity"
                    + (f"; compare the normalised {normalised[0]}" if normalised else ""))
    return lines


def run_labels(synthetic: bool = False, untrained: Sequence[str] = ()) -> list[str]:
    """The labels every figure and table of a run carries: SYNTHETIC data, untrained rows."""
    out = [SYNTHETIC_BANNER] if synthetic else []
    names = sorted({str(n) for n in untrained})
    if names:
        out.append(f"{UNTRAINED_LABEL}: {', '.join(names)}")
    return out


def result_labels(result: EvaluationResult) -> list[str]:
    """:func:`run_labels` of an evaluation result (its settings and rows)."""
    untrained = [n for n, r in result.rows.items() if r.get("untrained")]
    if result.settings.get("untrained") and result.settings.get("model"):
        untrained.append(str(result.settings["model"]))
    return run_labels(bool(result.settings.get("synthetic")), untrained)


def settings_footer(settings: Mapping[str, Any], skipped: Mapping[str, str]) -> str:
    lines = []
    if settings.get("synthetic"):
        lines.append(f"**{SYNTHETIC_BANNER}**")
    for k, v in settings.items():
        lines.append(f"- {k}: {v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)}")
    for name, reason in skipped.items():
        lines.append(f"- skipped {name}: {reason}")
    return "\n".join(lines)


def skipped_metrics(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``{metric entry: "rows a, b: reason"}`` for metrics that could not apply to some rows (their
    ``skipped_reason``, e.g. durations the predictions lack); one line per entry and reason."""
    by: dict[tuple[str, str], list[str]] = {}
    for name, row in rows.items():
        for entry, res in (row.get("metrics") or {}).items():
            if res.get("skipped_reason"):
                by.setdefault((str(entry), str(res["skipped_reason"])), []).append(str(name))
    out: dict[str, str] = {}
    for (entry, why), names in by.items():
        line = f"skipped for {', '.join(names)}: {why}"
        out[entry] = f"{out[entry]}; {line}" if entry in out else line
    return out


def column_notes(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """One line per dropped column, skipped metric, metric without an uncertainty estimate, row on
    another stimulus set and length-driven ranking of the human row (markdown list)."""
    lines = [f"- column {t} not shown: {why}" for t, why in dropped_columns(rows).items()]
    lines += [f"- metric {e} {why} (NaN in the table, null in metrics.json)" for e, why in skipped_metrics(rows).items()]
    shown = {entry for _, entry, _ in table_columns(rows)}
    no_sem: dict[str, str] = {}
    for row in rows.values():
        for entry, res in (row.get("metrics") or {}).items():
            if entry in shown and res.get("uncertainty_note") and not res.get("skipped_reason"):
                no_sem.setdefault(entry, str(res["uncertainty_note"]))
    lines += [f"- {e}: no ± (SEM not estimable: {why})" for e, why in no_sem.items()]
    lines += settings_notes(rows) + stimulus_notes(rows) + length_notes(rows)
    return "\n".join(lines)


def _title(settings: Mapping[str, Any]) -> str:
    proto = settings.get("protocol")
    title = f"Evaluation on {settings.get('dataset')} ({settings.get('split', 'test')} split)"
    if proto and proto != "plain":
        title += f" — {proto} protocol"
    if settings.get("architecture") and settings.get("architecture") != "published":
        title += f" — OAT {settings['architecture']}"
    if settings.get("synthetic"):
        title += f" — {SYNTHETIC_BANNER}"
    return title


ROW_NOTES = (
    "Rows: the evaluated model(s), baselines scored the same way, and human consistency (each human "
    "scanpath scored against the other subjects of its key, never itself). ↑ higher is better, "
    "↓ lower is better; values are means over predictions ± the standard error over stimuli (SEM; "
    "stimuli = evaluation keys; OAT: trials; 360°: episodes); n = stimuli the row was scored on, "
    "(n=…) after a cell = fewer stimuli for that metric. metrics.json holds n, the bootstrap 95 % CI, "
    "NaN counts and params; per_stimulus.json the per-stimulus values."
)


def render_markdown(result: EvaluationResult) -> str:
    """``metrics.md``: title, table, notes, extra sections, settings."""
    columns, cells = format_rows(result.rows)
    head = "| row | " + " | ".join(columns) + " |"
    sep = "|---|" + "---|" * len(columns)
    body = ["| " + label + " | " + " | ".join(c[col] for col in columns) + " |" for label, c in cells.items()]
    notes = column_notes(result.rows)
    labels = [x for x in result_labels(result) if x != SYNTHETIC_BANNER]  # SYNTHETIC: in the title already
    parts = [f"# {_title(result.settings)}", "", *([" · ".join(f"**{x}**" for x in labels), ""] if labels else []),
             head, sep, *body, "", ROW_NOTES, *(["", notes] if notes else []), ""]
    for name, text in result.sections.items():
        parts += [f"## {name}", "", text.rstrip(), ""]
    parts += ["## Settings", "", settings_footer(result.settings, result.skipped), ""]
    return "\n".join(parts)


CONSOLE_SETTINGS = ("frame", "truncation", "samples_per_image", "cluster_source", "padding",
                    "human_consistency", "test_set_sha256")


def console_settings(settings: dict[str, Any]) -> str:
    """The settings a reader needs to compare tables, once under the console table (all of them are in
    metrics.md / metrics.json)."""
    def short(key: str, value: Any) -> str:
        if key == "test_set_sha256" and isinstance(value, str):
            return value[:12]
        return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)

    items = [f"  {k}: {short(k, settings[k])}" for k in CONSOLE_SETTINGS if k in settings]
    return "\n".join(["settings (all of them: metrics.md / metrics.json):", *items])


def print_console(result: EvaluationResult) -> None:
    """The table with rich (240 columns when not a terminal, so log files keep every column)."""
    from rich.console import Console
    from rich.table import Table

    columns, cells = format_rows(result.rows)
    console = Console(width=None if Console().is_terminal else 160)
    label_w = max((len(label) for label in cells), default=3) + 4
    groups: list[list[str]] = [[]]
    used = label_w
    for c in columns:  # wrap by column groups instead of cutting at the terminal width
        w = max([len(c), 7] + [len(row.get(c, "")) for row in cells.values()]) + 3
        if groups[-1] and used + w > console.width:
            groups.append([])
            used = label_w
        groups[-1].append(c)
        used += w
    for label in result_labels(result):
        console.print(label, style="bold white on red", markup=False, highlight=False)
    for k, cols in enumerate(groups):
        title = _title(result.settings) + (f" ({k + 1}/{len(groups)})" if len(groups) > 1 else "")
        table = Table(title=title)
        table.add_column("row", style="bold", no_wrap=True)
        for c in cols:
            table.add_column(c, justify="right")
        for label, c in cells.items():
            table.add_row(label, *[c[col] for col in cols])
        console.print(table)
    console.print(console_settings(result.settings), markup=False, highlight=False, soft_wrap=True)
    notes = column_notes(result.rows)
    if notes:
        console.print(notes, markup=False, highlight=False)
    for name, text in result.sections.items():
        console.print(f"\n{name}\n{text}", markup=False, highlight=False)
    for name, reason in result.skipped.items():
        console.print(f"skipped {name}: {reason}", markup=False, highlight=False)


def safe_name(name: str) -> str:
    """A file-name-safe form of a row or stimulus name (extension kept once, never doubled)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_")[:60] or "item"


def annotate(result: EvaluationResult) -> None:
    """Before anything is written: stimulus-set flags and ``n_stimuli`` on the rows, and how the
    uncertainty was estimated in the settings (when any metric carries one)."""
    flag_stimulus_sets(result.rows)
    if any("sem" in res for r in result.rows.values() for res in (r.get("metrics") or {}).values()):
        result.settings.setdefault("uncertainty", dict(METHOD))


def write_report(result: EvaluationResult, out_dir: str | Path, *, console: bool = True,
                 png_table: bool = True, html: bool = True) -> dict[str, Any]:
    """Validate and write ``metrics.json``, ``metrics.md``, ``figures/metrics_table.png`` and
    ``report.html``; print the table."""
    from scanpath.evaluation.html_report import write_html_report

    out = Path(out_dir)
    annotate(result)
    if png_table:
        path = save_png_table(result, out / "figures" / "metrics_table.png")
        rel = str(path.relative_to(out))
        if rel not in result.figures:
            result.figures.append(rel)
    payload = result.payload()
    validate_metrics(payload)
    atomic_write_json(out / "metrics.json", payload)
    per_stim = result.per_stimulus()
    if per_stim["rows"]:
        atomic_write_json(out / PER_STIMULUS, per_stim, indent=None)
    atomic_write_text(out / "metrics.md", render_markdown(result))
    if html:
        write_html_report(result, out, result.stimuli if result.stimuli is not None else [])
    if console:
        print_console(result)
    log.info("outputs written to %s%s", out, " (open report.html in a browser)" if html else "")
    return payload


FOOTER_KEYS = ("dataset", "protocol", "synthetic", "frame", "truncation", "pair_reduce", "human_consistency",
               "library_version", "uncertainty")


def save_png_table(result: EvaluationResult, path: Path) -> Path:
    """The metric table as a PNG (settings footer below it)."""
    from scanpath.viz import save_metric_table

    columns, cells = format_rows(result.rows)
    def short(k: str, v: Any) -> Any:
        if k == "uncertainty" and isinstance(v, Mapping):  # the full record is in metrics.json
            return f"± = SEM over stimuli; 95 % CI: bootstrap ({v.get('n_boot')} resamples, seed {v.get('seed')})"
        return v

    footer = "\n".join(f"{k}: {short(k, v)}" for k, v in result.settings.items() if k in FOOTER_KEYS)
    return save_metric_table(path, cells, columns, footer=footer, title=_title(result.settings),
                             labels=result_labels(result))


def load_metrics(path: str | Path) -> dict[str, Any]:
    """Read and validate a written ``metrics.json``."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    validate_metrics(payload)
    return payload


