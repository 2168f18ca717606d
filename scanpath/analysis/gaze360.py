"""Human gaze on the sphere: head/gaze directions, I-VT and I-DT fixations, head scanpaths.

Follows the Salient360! toolbox (github.com/David-Ef/salient360Toolbox, MIT) as summarised in
docs/humanoid360.md §2.5:

* head = q ⊗ (0, 0, 1), gaze = q ⊗ eye (quaternion recordings) or R_yxz(pitch, yaw, roll)·v (Unity
  Euler, applied Z then X then Y); both then rotated +90° about x. lon_n = atan2(x, y)/2π − 0.25
  (mod 1), lat_n = 0.5 − asin(z)/π (0 at the top); yaw = (lon_n − 0.5)·360, pitch = (0.5 − lat_n)·180.
  The eye is R by default; ``B`` is the renormalised L + R (quirk T3: the static
  ``meanGazeDirection`` is not head-relative, so we never use it). Quirk T2: the toolbox flips the
  Euler gaze z but not the head z; ``toolbox_euler_flip=True`` restores that, we use one transform.
* I-VT: v = ∠(g_k, g_k+1)/Δt; samples more than 5σ from the mean speed dropped; optional
  Savitzky–Golay (9, 2); fixation = run with v ≤ 120°/s after removing single-sample flips, ≥ 80 ms.
* I-DT (Salvucci & Goldberg 2000): windows ≥ 100 ms grown while the gnomonic dispersion
  (max u − min u) + (max v − min v) ≤ 2°.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scanpath.io.salient360 import RawGaze
from scanpath.types import Scanpath

IVT_THRESHOLD_DEG_S = 120.0
IVT_MIN_DURATION_MS = 80.0
IDT_DISPERSION_DEG = 2.0
IDT_MIN_DURATION_MS = 100.0


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` [N, 3] by unit quaternions ``q`` [N, 4] (w, x, y, z)."""
    w, u = q[:, :1], q[:, 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def euler_yxz_matrix(euler_deg: np.ndarray) -> np.ndarray:
    """Unity rotation matrices [N, 3, 3] from (pitch, yaw, roll) degrees: R = Ry(yaw)·Rx(pitch)·Rz(roll)."""
    p, y, r = np.radians(euler_deg).T
    cp, sp, cy, sy, cr, sr = np.cos(p), np.sin(p), np.cos(y), np.sin(y), np.cos(r), np.sin(r)
    o, z = np.ones_like(p), np.zeros_like(p)
    rx = np.stack([np.stack([o, z, z], -1), np.stack([z, cp, -sp], -1), np.stack([z, sp, cp], -1)], -2)
    ry = np.stack([np.stack([cy, z, sy], -1), np.stack([z, o, z], -1), np.stack([-sy, z, cy], -1)], -2)
    rz = np.stack([np.stack([cr, -sr, z], -1), np.stack([sr, cr, z], -1), np.stack([z, z, o], -1)], -2)
    return ry @ rx @ rz


def _to_sphere_frame(v: np.ndarray) -> np.ndarray:
    """+90° about x: (x, y, z) → (x, −z, y)."""
    return np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1)


def vec_to_lonlat(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sphere-frame unit vectors → normalised (lon_n, lat_n)."""
    lon = (np.arctan2(v[:, 0], v[:, 1]) / (2 * np.pi) - 0.25) % 1.0
    lat = 0.5 - np.arcsin(np.clip(v[:, 2], -1, 1)) / np.pi
    return lon, lat


def vec_to_yawpitch(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = vec_to_lonlat(v)
    return (lon - 0.5) * 360.0, (0.5 - lat) * 180.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@dataclasses.dataclass
class SphereGaze:
    """Valid samples of one recording in the sphere frame: ``t_ms`` [N], ``head``/``gaze`` [N, 3] unit."""

    t_ms: np.ndarray
    head: np.ndarray
    gaze: np.ndarray
    n_dropped: int
    source: str = ""


def sphere_gaze(raw: RawGaze, eye: str = "R", toolbox_euler_flip: bool = False) -> SphereGaze:
    """Head and gaze unit vectors of the valid samples (NaN, invalid flag, all-0 or all-−1 eyes dropped)."""
    if eye not in ("R", "L", "B"):
        raise ValueError(f"eye must be 'R', 'L' or 'B', got {eye!r}")
    if eye == "R":
        e, ok = raw.eye_r, raw.val_r.copy()
    elif eye == "L":
        e, ok = raw.eye_l, raw.val_l.copy()
    else:
        e, ok = raw.eye_l + raw.eye_r, raw.val_l & raw.val_r
    for src in ([raw.eye_r] if eye == "R" else [raw.eye_l] if eye == "L" else [raw.eye_l, raw.eye_r]):
        ok &= ~np.isnan(src).any(1) & ~(src == 0).all(1) & ~(src == -1).all(1)
    rot = raw.quat if raw.quat is not None else raw.euler
    ok &= ~np.isnan(rot).any(1) & ~np.isnan(raw.t_ms)
    e = _unit(e[ok])
    fwd = np.tile([0.0, 0.0, 1.0], (len(e), 1))
    if raw.quat is not None:
        q = raw.quat[ok] / np.linalg.norm(raw.quat[ok], axis=1, keepdims=True)
        head, gaze = quat_rotate(q, fwd), quat_rotate(q, e)
    else:
        m = euler_yxz_matrix(raw.euler[ok])
        head, gaze = m @ fwd[..., None], m @ e[..., None]
        head, gaze = head[..., 0], gaze[..., 0]
    head, gaze = _unit(_to_sphere_frame(head)), _unit(_to_sphere_frame(gaze))
    if toolbox_euler_flip and raw.quat is None:  # T2: gaze z (latitude) flipped, head z not
        gaze = gaze * np.array([1.0, 1.0, -1.0])
    return SphereGaze(raw.t_ms[ok], head, gaze, int((~ok).sum()), str(raw.path))


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between unit vectors (atan2 form, accurate for tiny angles), degrees."""
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1)))


@dataclasses.dataclass
class Fixations:
    """Detected fixations: centre unit vectors [K, 3], start ms [K], duration ms [K]."""

    centre: np.ndarray
    start_ms: np.ndarray
    duration_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.start_ms)

    def to_scanpath(self, stimulus: str = "", subject: str | int | None = None) -> Scanpath:
        yaw, pitch = vec_to_yawpitch(self.centre) if len(self) else (np.zeros(0), np.zeros(0))
        return Scanpath(yaw, pitch, self.duration_ms.copy(), stimulus=stimulus, subject=subject,
                        extra={"coords": "yaw_pitch_deg", "start_ms": self.start_ms.tolist()})


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of True runs."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def _fixations_from_runs(v: np.ndarray, t: np.ndarray, runs: list[tuple[int, int]], min_ms: float) -> Fixations:
    cs, st, du = [], [], []
    for a, b in runs:
        dur = t[b - 1] - t[a]
        if dur >= min_ms:
            cs.append(_unit(v[a:b].mean(0)))
            st.append(t[a])
            du.append(dur)
    return Fixations(np.array(cs).reshape(-1, 3), np.array(st, float), np.array(du, float))


def angular_speed(v: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """Speed (°/s) of each sample towards the next; the last sample repeats the previous speed."""
    sp = angle_deg(v[:-1], v[1:]) / (np.diff(t_ms) / 1000.0)
    return np.concatenate([sp, sp[-1:]]) if len(sp) else np.zeros(len(v))


def ivt(
    v: np.ndarray,
    t_ms: np.ndarray,
    threshold: float = IVT_THRESHOLD_DEG_S,
    min_duration: float = IVT_MIN_DURATION_MS,
    outlier_sigma: float | None = 5.0,
    savgol: bool = False,
) -> Fixations:
    """Velocity-threshold fixations on the sphere (toolbox defaults 120°/s, 80 ms)."""
    if len(v) < 3:
        return Fixations(np.zeros((0, 3)), np.zeros(0), np.zeros(0))
    sp = angular_speed(v, t_ms)
    if outlier_sigma is not None:
        keep = np.abs(sp - sp.mean()) <= outlier_sigma * sp.std()
        v, t_ms = v[keep], t_ms[keep]
        sp = angular_speed(v, t_ms)
    if savgol and len(sp) >= 9:
        from scipy.signal import savgol_filter

        sp = savgol_filter(sp, 9, 2)
    fix = sp <= threshold
    flip = np.zeros_like(fix)
    flip[1:-1] = (fix[:-2] == fix[2:]) & (fix[1:-1] != fix[:-2])
    fix = np.where(flip, ~fix, fix)
    return _fixations_from_runs(v, t_ms, _runs(fix), min_duration)


def _gnomonic_deg(v: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic coordinates (degrees, via atan) of unit vectors ``v`` about the unit direction ``c``."""
    ref = np.array([0.0, 0.0, 1.0]) if abs(c[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = _unit(np.cross(ref, c))
    e2 = np.cross(c, e1)
    dz = v @ c
    return np.degrees(np.arctan((v @ e1) / dz)), np.degrees(np.arctan((v @ e2) / dz))


def _dispersion(v: np.ndarray) -> float:
    """(max u − min u) + (max v − min v) of the gnomonic projection about the mean direction, degrees."""
    u, w = _gnomonic_deg(v, _unit(v.mean(0)))
    return float(u.max() - u.min() + w.max() - w.min())


def idt(
    v: np.ndarray, t_ms: np.ndarray, dispersion: float = IDT_DISPERSION_DEG, min_duration: float = IDT_MIN_DURATION_MS
) -> Fixations:
    """Dispersion-threshold fixations (Salvucci & Goldberg 2000) with gnomonic dispersion in degrees.

    A window starting at sample i first covers ``min_duration``; if its dispersion (about its mean
    direction) is ≤ ``dispersion`` it grows sample by sample while the dispersion, measured in the
    same tangent plane, stays ≤ the threshold (running max/min: one vectorised pass per fixation).
    """
    n = len(v)
    runs: list[tuple[int, int]] = []
    if n == 0:
        return _fixations_from_runs(v, t_ms, runs, min_duration)
    first_j = np.searchsorted(t_ms, t_ms + min_duration, side="left")  # window [i, j] covers ≥ min_duration
    # cheap exact-in-practice pre-filter: the end points' angle is ≤ the window's gnomonic dispersion
    # (up to the projection's tiny distortion at a few degrees, hence the 5 % margin)
    far = angle_deg(v, v[np.minimum(first_j, n - 1)]) > 1.05 * dispersion
    i = 0
    while i < n:
        j = int(first_j[i])
        if j >= n:
            break
        if far[i] or _dispersion(v[i : j + 1]) > dispersion:
            i += 1
            continue
        c = _unit(v[i : j + 1].mean(0))
        horizon = max(4 * (j + 1 - i), 256)
        while True:
            stop = min(n, i + horizon)
            u, w = _gnomonic_deg(v[i:stop], c)
            d = (np.maximum.accumulate(u) - np.minimum.accumulate(u)) + (np.maximum.accumulate(w) - np.minimum.accumulate(w))
            over = np.flatnonzero(d[j - i :] > dispersion)
            if len(over) or stop == n:
                end = j + int(over[0]) if len(over) else n
                break
            horizon *= 2
        runs.append((i, max(end, j + 1)))
        i = max(end, j + 1)
    return _fixations_from_runs(v, t_ms, runs, min_duration)


def head_scanpath(g: SphereGaze, window_ms: float = 1000.0, stimulus: str = "", subject: str | int | None = None) -> Scanpath:
    """Head directions averaged per ``window_ms`` window (1 s as ScanDMM, 100 ms as the toolbox)."""
    if len(g.t_ms) == 0:
        return Scanpath([], [], [], stimulus=stimulus, subject=subject)
    bins = ((g.t_ms - g.t_ms[0]) // window_ms).astype(int)
    cs, st = [], []
    for b in np.unique(bins):
        sel = bins == b
        cs.append(_unit(g.head[sel].mean(0)))
        st.append(b * window_ms)
    yaw, pitch = vec_to_yawpitch(np.array(cs))
    return Scanpath(yaw, pitch, np.full(len(cs), float(window_ms)), stimulus=stimulus, subject=subject,
                    extra={"coords": "yaw_pitch_deg", "start_ms": st, "kind": "head"})


def agent_scanpath(headings: list[tuple[int, int]], stimulus: str = "", subject: str | int | None = None) -> Scanpath:
    """An agent's headings (yaw mod 360 → [−180, 180)) as a yaw/pitch scanpath ending at its submit."""
    a = np.asarray(headings, float).reshape(-1, 2)
    yaw = (a[:, 0] + 180.0) % 360.0 - 180.0
    return Scanpath(yaw, a[:, 1], None, stimulus=stimulus, subject=subject, extra={"coords": "yaw_pitch_deg", "kind": "agent"})


def _segments(yaw: np.ndarray, pitch: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split a yaw/pitch polyline where it crosses the ±180° seam (shorter way round)."""
    segs, cur_y, cur_p = [], [yaw[0]], [pitch[0]]
    for k in range(1, len(yaw)):
        if abs(yaw[k] - yaw[k - 1]) > 180:
            segs.append((np.array(cur_y), np.array(cur_p)))
            cur_y, cur_p = [], []
        cur_y.append(yaw[k])
        cur_p.append(pitch[k])
    segs.append((np.array(cur_y), np.array(cur_p)))
    return segs


def overlay_figure(panorama: np.ndarray | None, scanpaths: list[Scanpath], path, labels: list[str] | None = None,
                   title: str = "") -> None:
    """Scanpaths (yaw/pitch degrees) drawn over an equirectangular panorama; saved atomically (Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from scanpath.io.atomic import atomic_save_figure

    fig, ax = plt.subplots(figsize=(10, 5.4))
    if panorama is not None:
        ax.imshow(panorama, extent=(-180, 180, -90, 90), aspect="auto")
    cmap = plt.get_cmap("tab10")
    for i, s in enumerate(scanpaths):
        if len(s) == 0:
            continue
        c = cmap(i % 10)
        for sy, sp in _segments(s.x, s.y):
            ax.plot(sy, sp, "-", color=c, lw=1.2, alpha=0.9)
        size = 10 + (np.asarray(s.duration) / 10 if s.duration is not None else 20)
        ax.scatter(s.x, s.y, s=size, color=c, edgecolor="k", lw=0.5, zorder=3,
                   label=(labels[i] if labels else f"{s.subject}"))
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_xlabel("yaw (°)")
    ax.set_ylabel("pitch (°)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=100)
    plt.close(fig)


def salient360_report(root, out_dir, metrics: dict | None = None, eye: str = "R", window_ms: float = 1000.0,
                      panorama=None) -> dict:
    """Fixations (I-VT, I-DT), head scanpaths, 360° human consistency and an overlay for a folder of raw
    Salient360! CSVs (``root/raw_gaze/*.csv`` or ``root/*.csv``); writes ``salient360_report.json`` and
    ``salient360_overlay.png`` into ``out_dir`` and returns the report. Static and video recordings form
    two stimulus groups ("static", "dynamic") for the consistency scores."""
    from pathlib import Path

    from scanpath.io.atomic import atomic_write_json
    from scanpath.io.salient360 import load_raw_gaze

    root, out_dir = Path(root), Path(out_dir)
    files = sorted((root / "raw_gaze").glob("*.csv")) or sorted(root.glob("*.csv"))
    report: dict = {"recordings": {}, "consistency": {}}
    heads, fixes = [], []
    for k, f in enumerate(files):
        raw = load_raw_gaze(f)
        g = sphere_gaze(raw, eye=eye)
        stim = "static" if raw.kind == "quaternion" else "dynamic"
        fv, fd = ivt(g.gaze, g.t_ms), idt(g.gaze, g.t_ms)
        report["recordings"][f.name] = {
            "rows": len(raw), "valid": len(g.t_ms), "rate_hz": raw.rate_hz, "duration_s": raw.duration_s,
            "ivt_fixations": len(fv), "ivt_per_s": len(fv) / raw.duration_s,
            "ivt_median_ms": float(np.median(fv.duration_ms)) if len(fv) else float("nan"),
            "idt_fixations": len(fd), "median_speed_deg_s": float(np.median(angular_speed(g.gaze, g.t_ms))),
            "median_head_gaze_deg": float(np.median(angle_deg(g.head, g.gaze))),
        }
        heads.append(head_scanpath(g, window_ms, stimulus=stim, subject=k + 1))
        fixes.append(fv.to_scanpath(stimulus=stim, subject=k + 1))
    if metrics:
        from scanpath.metrics import human_consistency

        report["consistency"] = {"head": human_consistency(heads, metrics), "fixations": human_consistency(fixes, metrics)}
    atomic_write_json(out_dir / "salient360_report.json", report)
    static = [s for s in fixes if s.stimulus == "static"]
    overlay_figure(panorama, static, out_dir / "salient360_overlay.png", title="I-VT fixations, static recordings")
    return report
