"""``report.html``: one self-contained file (inline CSS/JS, images as data URIs, no network) with the
sortable metric table (best value per column marked), the settings, the figures of the run and, for a
handful of stimuli, the human and model scanpaths *animated* on the stimulus (or on the drawn object
layout): play/pause, a step slider, fixation order numbers, discs sized by duration when durations
exist, an optional time-true speed and a per-model toggle.

:func:`stimulus_records` turns built scanpaths into the small JSON the page animates; the run dir
keeps it as ``report_data.json`` so ``python -m scanpath.report <run dir>`` rebuilds the page from the
written files without running any model.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.evaluation.report import (
    N_COLUMN,
    SYNTHETIC_BANNER,
    EvaluationResult,
    dropped_columns,
    format_rows,
    json_clean,
    length_notes,
    result_labels,
    settings_notes,
    skipped_metrics,
    stimulus_notes,
    table_columns,
)
from scanpath.io.atomic import atomic_write_json, atomic_write_text
from scanpath.types import Scanpath, scanpath_key

REPORT_DATA = "report_data.json"
MAX_IMAGE_SIDE = 720


# ----------------------------------------------------------------------------------- stimulus data
def image_data_uri(image: Any, max_side: int = MAX_IMAGE_SIDE) -> str | None:
    """A float [0, 1] ``[3, H, W]`` tensor / uint8 ``[H, W, 3]`` array as a JPEG data URI (downscaled)."""
    if image is None:
        return None
    import cv2

    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.transpose(arr, (1, 2, 0))
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=2)
    h, w = arr.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        arr = cv2.resize(arr, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else None


def _path(s: Scanpath) -> list[list[float | None]]:
    d = s.duration
    return [[round(float(x), 2), round(float(y), 2), None if d is None or not math.isfinite(float(d[i])) else
             round(float(d[i]), 1)] for i, (x, y) in enumerate(zip(s.x, s.y))]


def _group(scanpaths: Sequence[Scanpath], key: str) -> dict[str, list[Scanpath]]:
    out: dict[str, list[Scanpath]] = {}
    for s in scanpaths:
        out.setdefault(scanpath_key(s, key), []).append(s)
    return out


def stimulus_records(samples: Sequence[Mapping[str, Any]], humans: Sequence[Scanpath],
                     predictions: Mapping[str, Sequence[Scanpath]], n_stimuli: int = 6,
                     max_per_group: int = 5, key: str = "stimulus") -> list[dict[str, Any]]:
    """JSON records for the first ``n_stimuli`` test queries (evaluation keys: a stimulus, or a
    stimulus and its target): image, size, target box, object boxes, task, the human scanpaths and
    each model's scanpaths (all samples, labelled distinctly)."""
    by_h = _group(humans, key)
    by_p = {name: _group(p, key) for name, p in predictions.items()}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sample in samples:
        if len(out) >= n_stimuli:
            break
        stim = str(sample.get("stimulus", ""))
        k = scanpath_key(sample["scanpath"], key) if "scanpath" in sample else stim
        if k in seen or k not in by_h:
            continue
        seen.add(k)
        hs = by_h[k]
        size = sample.get("image_size") or hs[0].image_size
        boxes = sample.get("boxes")
        rec: dict[str, Any] = {
            "id": stim, "task": hs[0].task, "condition": hs[0].condition,
            "width": int(size[0]) if size is not None else None, "height": int(size[1]) if size is not None else None,
            "image": image_data_uri(sample.get("image")),
            "bbox": json_clean(hs[0].extra.get("bbox")),
            "boxes": json_clean(boxes.tolist() if hasattr(boxes, "tolist") else boxes),
            "target_index": json_clean(sample.get("target_index")),
            "n_humans": len(hs),
            "groups": {"Human": [{"label": f"subject {s.subject}", "fix": _path(s)} for s in hs[:max_per_group]]},
        }
        for name, groups in by_p.items():
            preds = groups.get(k, [])
            rec["groups"][name] = [{"label": f"{name} #{i + 1}" if len(preds) > 1 else name, "fix": _path(s)}
                                   for i, s in enumerate(preds[:max_per_group])]
        out.append(rec)
    return out


# -------------------------------------------------------------------------------------- the page
def _figure_uris(run_dir: Path, figures: Sequence[str]) -> list[dict[str, str]]:
    out = []
    for rel in figures:
        p = run_dir / rel
        if p.suffix.lower() == ".png" and p.is_file() and not p.name.startswith("report"):
            out.append({"name": p.stem.replace("_", " "), "src": "data:image/png;base64," +
                        base64.b64encode(p.read_bytes()).decode()})
    return out


def _cell_tooltip(res: Mapping[str, Any] | None, dim: str | None) -> str:
    """``95 % CI [lo, hi] · n = k stimuli`` for a cell's hover text ('' when nothing is known)."""
    if not res:
        return ""
    interval = res.get("ci95") if dim is None else (res.get("values_ci95") or {}).get(dim)
    n = res.get("n_stimuli") if dim is None else (res.get("values_n_stimuli") or {}).get(dim)
    parts = []
    if interval and all(x is not None for x in interval):
        parts.append(f"95 % CI [{interval[0]:.4g}, {interval[1]:.4g}] (bootstrap over stimuli)")
    if n is not None:
        parts.append(f"n = {n} stimuli")
    if res.get("uncertainty_note"):
        parts.append(f"no SEM: {res['uncertainty_note']}")
    return " · ".join(parts)


def page_data(result: EvaluationResult, stimuli: Sequence[Mapping[str, Any]], run_dir: Path) -> dict[str, Any]:
    """Everything the page renders, as plain JSON."""
    columns, cells = format_rows(result.rows)
    cols = table_columns(result.rows)
    higher = {}
    raw: dict[str, dict[str, float | None]] = {}
    for (title, entry, dim) in cols:
        res = next(((r.get("metrics") or {}).get(entry) for r in result.rows.values()
                    if (r.get("metrics") or {}).get(entry)), {}) or {}
        dirs = res.get("dim_higher_is_better") or {}
        higher[title] = dirs.get(dim, res.get("higher_is_better")) if dim else res.get("higher_is_better")
    ci: dict[str, dict[str, str]] = {}
    for label, (name, row) in zip(cells, result.rows.items()):
        raw[label], ci[label] = {}, {}
        for (title, entry, dim) in cols:
            r = (row.get("metrics") or {}).get(entry)
            v = None if r is None else (r.get("value") if dim is None else (r.get("values") or {}).get(dim))
            try:
                raw[label][title] = None if v is None or not math.isfinite(float(v)) else float(v)
            except (TypeError, ValueError):
                raw[label][title] = None
            ci[label][title] = _cell_tooltip(r, dim)
        if N_COLUMN in columns:
            raw[label][N_COLUMN] = row.get("n_stimuli")
    rows = [{"label": label, "role": row.get("role"), "n": row.get("n_predictions"), "cells": cells[label],
             "raw": raw[label], "ci": ci[label]} for label, row in zip(cells, result.rows.values())]
    title = f"{result.settings.get('dataset')} — {result.settings.get('protocol', 'plain')} protocol"
    return json_clean({"title": title, "synthetic": bool(result.settings.get("synthetic")),
                       "column_notes": dropped_columns(result.rows),
                       "metric_notes": skipped_metrics(result.rows),
                       "notes": [x[2:] for x in settings_notes(result.rows) + stimulus_notes(result.rows)
                                 + length_notes(result.rows)],
                       "labels": [x for x in result_labels(result) if x != SYNTHETIC_BANNER],
                       "banner": SYNTHETIC_BANNER, "columns": columns, "higher": higher, "rows": rows,
                       "settings": result.settings, "skipped": result.skipped, "sections": result.sections,
                       "figures": _figure_uris(run_dir, result.figures), "stimuli": list(stimuli)})


def render_html(data: Mapping[str, Any]) -> str:
    blob = json.dumps(data, allow_nan=False, default=str).replace("</", "<\\/")
    return _TEMPLATE.replace("/*__DATA__*/null", blob)


def write_html_report(result: EvaluationResult, run_dir: str | Path,
                      stimuli: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Write ``report_data.json`` (when ``stimuli`` are given) and ``report.html`` into ``run_dir``."""
    run = Path(run_dir)
    if stimuli is not None:
        atomic_write_json(run / REPORT_DATA, _finite(json_clean({"stimuli": list(stimuli), "sections": result.sections})),
                          indent=None)
    elif (run / REPORT_DATA).is_file():
        saved = json.loads((run / REPORT_DATA).read_text(encoding="utf-8"))
        stimuli = saved.get("stimuli", [])
        result.sections = result.sections or dict(saved.get("sections") or {})
    data = page_data(result, stimuli or [], run)
    path = run / "report.html"
    atomic_write_text(path, render_html(_finite(data)))
    return path


def _finite(obj: Any) -> Any:
    """NaN / inf → None (the page's JSON must be strict)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


_TEMPLATE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scanpath report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.banner{background:#b00020;color:#fff;padding:6px 10px;border-radius:4px;display:inline-block;margin:6px 0;font-weight:600}
.untrained{background:#8a5a00}
.tablewrap{overflow-x:auto;max-width:100%}
table.metrics{border-collapse:collapse;font-size:13px;background:#fff}
table.metrics th,table.metrics td{border:1px solid #ddd;padding:4px 7px;text-align:right;white-space:nowrap}
table.metrics th{background:#f0f0f0;cursor:pointer;position:sticky;top:0}
table.metrics td:first-child,table.metrics th:first-child{text-align:left}
td.best{background:#d9f2d9;font-weight:700}
tr.role-human td,tr.role-observer td{font-style:italic;color:#444}
pre.settings{background:#fff;border:1px solid #ddd;padding:8px;font-size:12px;overflow-x:auto;max-height:320px}
.stim{display:inline-block;vertical-align:top;margin:0 18px 22px 0;background:#fff;border:1px solid #ddd;padding:8px;border-radius:4px}
.stim canvas{display:block;border:1px solid #ccc;max-width:100%}
.controls{margin:6px 0;font-size:13px} .controls button{min-width:60px}
.legend label{margin-right:10px;font-size:12px;white-space:nowrap}
.swatch{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:3px;vertical-align:middle}
.figs img{max-width:100%;border:1px solid #ddd;background:#fff;margin:6px 0}
.note{font-size:12px;color:#555}
</style></head><body>
<h1 id="title"></h1><div id="banners"></div>
<h2>Metrics</h2><div class="note">Click a column to sort. ↑ higher is better, ↓ lower is better; the best model/baseline value of each column is marked. Values are means ± the standard error over stimuli; hover a cell for its bootstrap 95 % CI and n; n = stimuli the row was scored on; † = scored on another stimulus set than the other rows.</div>
<div class="tablewrap"><table class="metrics" id="metrics"></table></div>
<div id="skipped" class="note"></div>
<div id="sections"></div>
<h2>Scanpaths</h2><div class="note" id="stimnote"></div><div id="stimuli"></div>
<div id="figs" class="figs"></div>
<h2>Settings</h2><pre class="settings" id="settings"></pre>
<script>
"use strict";
const DATA = /*__DATA__*/null;
const COLORS = ["#000000","#e6194b","#3cb44b","#4363d8","#f58231","#911eb4","#42d4f4","#f032e6","#9a6324","#808000"];
function el(tag, attrs, text){const e=document.createElement(tag);for(const k in (attrs||{}))e.setAttribute(k,attrs[k]);if(text!==undefined)e.textContent=text;return e;}
document.getElementById("title").textContent = DATA.title;
const banners = document.getElementById("banners");
if (DATA.synthetic) banners.appendChild(el("div",{class:"banner"},DATA.banner));
for (const lab of DATA.labels) banners.appendChild(el("div",{class:"banner untrained"},lab));

// ---------------------------------------------------------------- table
let sortCol = null, sortDir = 1;
function bestPerColumn(){
  const best = {};
  for (const c of DATA.columns){
    const hib = DATA.higher[c]; if (hib === null || hib === undefined) continue;
    let b = null;
    for (const r of DATA.rows){ if (r.role==="human"||r.role==="observer") continue; const v=r.raw[c];
      if (v===null||v===undefined) continue; if (b===null || (hib ? v>b : v<b)) b=v; }
    best[c]=b;
  }
  return best;
}
function renderTable(){
  const t = document.getElementById("metrics"); t.innerHTML="";
  const head = el("tr"); head.appendChild(el("th",{},"row"));
  DATA.columns.forEach(c=>{const th=el("th",{"data-col":c},c+(sortCol===c?(sortDir>0?" ▲":" ▼"):""));
    th.onclick=()=>{sortDir = (sortCol===c)? -sortDir : 1; sortCol=c; renderTable();}; head.appendChild(th);});
  t.appendChild(head);
  const rows = DATA.rows.slice();
  if (sortCol!==null){ rows.sort((a,b)=>{const x=a.raw[sortCol], y=b.raw[sortCol];
    if (x===null||x===undefined) return 1; if (y===null||y===undefined) return -1; return sortDir*(x-y);}); }
  const best = bestPerColumn();
  for (const r of rows){
    const tr = el("tr",{class:"role-"+(r.role||"")}); tr.appendChild(el("td",{},r.label));
    for (const c of DATA.columns){ const td=el("td",{},r.cells[c]); if (r.ci && r.ci[c]) td.title=r.ci[c];
      if (best[c]!==undefined && best[c]!==null && r.raw[c]===best[c] && r.role!=="human" && r.role!=="observer") td.className="best";
      tr.appendChild(td);}
    t.appendChild(tr);
  }
}
renderTable();
const sk = document.getElementById("skipped");
for (const k in DATA.column_notes) sk.appendChild(el("div",{},"column "+k+" not shown: "+DATA.column_notes[k]));
for (const k in DATA.metric_notes) sk.appendChild(el("div",{},"metric "+k+" "+DATA.metric_notes[k]));
for (const line of DATA.notes) sk.appendChild(el("div",{},line));
for (const k in DATA.skipped) sk.appendChild(el("div",{},"skipped "+k+": "+DATA.skipped[k]));
const secs = document.getElementById("sections");
for (const k in DATA.sections){ secs.appendChild(el("h2",{},k)); secs.appendChild(el("pre",{class:"settings"},DATA.sections[k])); }
document.getElementById("settings").textContent = JSON.stringify(DATA.settings, null, 2);
const figs = document.getElementById("figs");
if (DATA.figures.length) figs.appendChild(el("h2",{},"Figures"));
for (const f of DATA.figures){ figs.appendChild(el("div",{class:"note"},f.name)); figs.appendChild(el("img",{src:f.src,alt:f.name})); }

// ---------------------------------------------------------------- playback
const players = [];
function makePlayer(stim, idx){
  const box = el("div",{class:"stim",id:"stim-"+idx});
  const shown = stim.groups.Human.length;
  box.appendChild(el("div",{},stim.id+(stim.task?" — task: "+stim.task:"")+(stim.n_humans?" ("+shown+" of "+stim.n_humans+" human scanpaths shown)":"")));
  const W = stim.width||800, H = stim.height||600, scale = Math.min(1, 560/Math.max(W,H));
  const cv = el("canvas",{width:Math.round(W*scale),height:Math.round(H*scale),"data-drawn":"0"});
  box.appendChild(cv);
  const ctl = el("div",{class:"controls"});
  const play = el("button",{class:"play"},"play"); const slider = el("input",{type:"range",min:"0",value:"0",class:"slider"});
  const counter = el("span",{class:"step"},"step 0"); const tt = el("input",{type:"checkbox",class:"timetrue"});
  ctl.appendChild(play); ctl.appendChild(slider); ctl.appendChild(counter);
  const ttl = el("label",{}," time-true"); ttl.prepend(tt); ctl.appendChild(ttl); box.appendChild(ctl);
  const legend = el("div",{class:"legend"}); box.appendChild(legend);
  const groups = Object.keys(stim.groups), visible = {};
  let maxLen = 0, hasDur = false;
  groups.forEach((g,gi)=>{ visible[g]=true; stim.groups[g].forEach(p=>{ maxLen=Math.max(maxLen,p.fix.length);
    p.fix.forEach(f=>{ if (f[2]!==null && f[2]!==undefined) hasDur=true; }); });
    const cb = el("input",{type:"checkbox",checked:"checked","data-group":g}); cb.onchange=()=>{visible[g]=cb.checked; draw();};
    const lab = el("label",{}); lab.appendChild(cb); const sw=el("span",{class:"swatch"}); sw.style.background=COLORS[gi%COLORS.length];
    lab.appendChild(sw); lab.appendChild(document.createTextNode(g)); legend.appendChild(lab); });
  if (!hasDur) { tt.disabled = true; ttl.title = "no durations in these scanpaths"; }
  slider.max = String(maxLen);
  const img = new Image(); let imgOk = false;
  if (stim.image){ img.onload=()=>{imgOk=true; draw();}; img.src = stim.image; }
  const ctx = cv.getContext("2d");
  let step = 0, timer = null;
  function background(){
    ctx.fillStyle="#ececec"; ctx.fillRect(0,0,cv.width,cv.height);
    if (imgOk) ctx.drawImage(img,0,0,cv.width,cv.height);
    else if (stim.boxes){ stim.boxes.forEach((b,i)=>{ const w=(b[2]-b[0])*scale, h=(b[3]-b[1])*scale;  // (x0, y0, x1, y1)
      ctx.strokeStyle="#999"; ctx.strokeRect(b[0]*scale,b[1]*scale,w,h);
      if (i===stim.target_index){ctx.fillStyle="rgba(255,200,0,0.35)"; ctx.fillRect(b[0]*scale,b[1]*scale,w,h);} }); }
    if (stim.bbox){ const b=stim.bbox; ctx.strokeStyle="#ffcc00"; ctx.lineWidth=2; ctx.strokeRect(b[0]*scale,b[1]*scale,b[2]*scale,b[3]*scale); ctx.lineWidth=1; }
  }
  function draw(){
    background(); let drawn = 0;
    groups.forEach((g,gi)=>{ if(!visible[g]) return; const col = COLORS[gi%COLORS.length];
      stim.groups[g].forEach(p=>{ const n=Math.min(step,p.fix.length); ctx.strokeStyle=col; ctx.globalAlpha=0.85;
        ctx.beginPath(); for(let i=0;i<n;i++){const x=p.fix[i][0]*scale,y=p.fix[i][1]*scale; if(i===0)ctx.moveTo(x,y); else ctx.lineTo(x,y);} ctx.stroke();
        for(let i=0;i<n;i++){ const f=p.fix[i]; const r = (f[2]!==null&&f[2]!==undefined)? Math.max(3,Math.min(16,Math.sqrt(f[2])*0.6)) : 5;
          ctx.beginPath(); ctx.arc(f[0]*scale,f[1]*scale,r,0,2*Math.PI); ctx.fillStyle=col; ctx.fill();
          ctx.fillStyle="#fff"; ctx.font="9px sans-serif"; ctx.fillText(String(i+1), f[0]*scale-3, f[1]*scale+3); drawn++; }
        ctx.globalAlpha=1; }); });
    cv.setAttribute("data-drawn", String(drawn)); counter.textContent = "step "+step+" / "+maxLen; slider.value=String(step);
  }
  function delay(){ if (!tt.checked) return 500; let d=0, k=0;
    groups.forEach(g=>stim.groups[g].forEach(p=>{ const f=p.fix[Math.max(0,step-1)]; if(f&&f[2]){d+=f[2];k++;} })); return k? d/k : 300; }
  function tick(){ if (step>=maxLen){ stop(); return; } step++; draw(); timer=setTimeout(tick, delay()); }
  function stop(){ if(timer){clearTimeout(timer);} timer=null; play.textContent="play"; }
  play.onclick=()=>{ if(timer){stop(); return;} if(step>=maxLen) step=0; play.textContent="pause"; tick(); };
  slider.oninput=()=>{ stop(); step=parseInt(slider.value,10); draw(); };
  draw(); players.push({draw});
  return box;
}
const host = document.getElementById("stimuli");
DATA.stimuli.forEach((s,i)=>host.appendChild(makePlayer(s,i)));
document.getElementById("stimnote").textContent = DATA.stimuli.length ? "Human scanpaths (black) and each model's, animated: play/pause, step slider, per-model toggles; disc size follows the fixation duration when durations exist." : "No stimulus playback for this run (the protocol has no per-stimulus scanpaths).";
</script></body></html>
"""
