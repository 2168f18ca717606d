#!/usr/bin/env bash
# One-call GPU suite: install missing wheels offline, run `pytest -m gpu`, every benchmark with
# --device cuda, a device-to-device copy for the bandwidth reference, and write the "## GPU" section
# of benchmarks/RESULTS.md. See docs/gpu_suite.md.
#
#   bash benchmarks/gpu_suite.sh [--device cuda|cpu] [--quick] [--wheels DIR] [--out DIR]
#                                [--budget SECONDS] [--record] [--pack DIR]
#
#   --device cpu --quick   dry run on a machine without a GPU: every step's plumbing with tiny sizes
#   --wheels DIR           wheels made by benchmarks/fetch_gpu_wheels.sh (default: .whl); only those
#                          whose distribution is not installed already are installed (into a temp dir
#                          put on PYTHONPATH, no network, no dependency resolution)
#   --out DIR              results folder (default: gpu_results/<UTC stamp>)
#   --budget SECONDS       global wall-clock limit of the whole suite (default 480 = 8 minutes on
#                          cuda, 1200 for the cpu dry run): each
#                          step gets at most what is left (minus a reserve for the report) and is
#                          killed when it runs over; later steps are then marked "skipped (budget)"
#   --record               replace the "## GPU" section of benchmarks/RESULTS.md
#   --pack DIR             also copy GPU_SECTION.md and a gpu_results.tgz of the folder to DIR
#
# Exit code: 0 when every step passed, 1 otherwise (the section is written either way).
set -u
DEVICE=cuda
QUICK=0
WHEELS=.whl
OUT=""
BUDGET=""
RECORD=0
PACK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --wheels) WHEELS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --budget) BUDGET="$2"; shift 2 ;;
    --record) RECORD=1; shift ;;
    --pack) PACK="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "gpu_suite: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "gpu_suite: --device must be cuda or cpu" >&2; exit 2 ;; esac
# 8 minutes on a GPU; the CPU dry run (2 shared cores, tiny sizes but CPU-bound models) gets 20
[ -z "$BUDGET" ] && { [ "$DEVICE" = cuda ] && BUDGET=480 || BUDGET=1200; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2
PY="${PYTHON:-python3}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="${OUT:-gpu_results/$STAMP}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
: > "$OUT/steps.tsv"
RESERVE=20  # seconds kept for the report
START=$SECONDS
FAILED=0
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # CPU-side references on one thread, as in RESULTS.md
export PYTHONUNBUFFERED=1
export MPLBACKEND=Agg WANDB_MODE=offline

left() { echo $(( BUDGET - (SECONDS - START) - RESERVE )); }

# step NAME CAP_SECONDS CMD...: run CMD with a timeout of min(CAP, time left), log to $OUT/NAME.log
step() {
  local name="$1" cap="$2"; shift 2
  local t; t=$(left)
  [ "$t" -gt "$cap" ] && t=$cap
  if [ "$t" -lt 5 ]; then
    printf '%s\tskipped (budget)\t-\t0\t%s\n' "$name" "$*" >> "$OUT/steps.tsv"
    echo "[gpu_suite] $name: skipped (budget)"; FAILED=1; return
  fi
  echo "[gpu_suite] $name (limit ${t}s): $*"
  local s0=$SECONDS rc
  timeout --kill-after=10 "$t" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  local status=passed
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="timed out (${t}s)"; elif [ $rc -ne 0 ]; then status=FAILED; fi
  [ "$status" = passed ] || FAILED=1
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$((SECONDS - s0))" "$*" >> "$OUT/steps.tsv"
  echo "[gpu_suite] $name: $status (rc $rc, $((SECONDS - s0)) s)"
  [ "$status" = passed ] || tail -n 15 "$OUT/$name.log" | sed 's/^/    /'
}

# ---------------------------------------------------------------- 1. wheels (offline)
SITE="$(mktemp -d /tmp/scanpath-gpu-site.XXXXXX)"
export PYTHONPATH="$REPO:$SITE${PYTHONPATH:+:$PYTHONPATH}"
install_wheels() {
  if ! ls "$WHEELS"/*.whl > /dev/null 2>&1; then
    echo "no wheels in $WHEELS: nothing to install"; return 0
  fi
  # one line per wheel: its distribution name, installed or not
  local missing
  missing=$("$PY" - "$WHEELS" <<'EOF'
import importlib.metadata as md, pathlib, re, sys
for whl in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    name = re.sub(r"[-_.]+", "-", whl.name.split("-")[0]).lower()
    try:
        md.version(name)
        print(f"present  {name}", file=sys.stderr)
    except md.PackageNotFoundError:
        print(whl)
EOF
)
  if [ -z "$missing" ]; then echo "every wheel's distribution is installed already"; return 0; fi
  echo "installing into $SITE:"; echo "$missing"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" $missing
}
export -f install_wheels
export WHEELS SITE PY
step wheels 120 bash -c install_wheels

# ---------------------------------------------------------------- 2. environment
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (+ local changes)')"
  echo "suite: device=$DEVICE quick=$QUICK budget=${BUDGET}s OMP_NUM_THREADS=$OMP_NUM_THREADS"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "$PY" - <<'EOF'
import platform, torch
print(f"python {platform.python_version()}; torch {torch.__version__}; CUDA {torch.version.cuda}; "
      f"cuda available {torch.cuda.is_available()}" + (f"; {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
for mod in ("triton", "cv2", "numpy", "lightning", "timm", "torchmetrics", "open_clip", "py360convert", "rapidfuzz", "numba"):
    try:
        m = __import__(mod)
        print(f"{mod} {getattr(m, '__version__', '?')}", end="; ")
    except Exception as exc:
        print(f"{mod} MISSING ({type(exc).__name__})", end="; ")
print()
EOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
if [ "$DEVICE" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_suite: --device cuda but torch sees no GPU (use --device cpu --quick for a dry run)" >&2
  printf 'cuda_check\tFAILED\t1\t0\ttorch.cuda.is_available()\n' >> "$OUT/steps.tsv"
  "$PY" benchmarks/gpu_report.py "$OUT" > /dev/null
  exit 1
fi

# ---------------------------------------------------------------- 3. tests and benchmarks
if [ "$QUICK" = 1 ]; then Q=(--quick); else Q=(); fi
if [ "$DEVICE" = cpu ]; then
  # the gpu-marked tests' code on CPU tensors (Triton through its interpreter)
  step pytest_gpu 240 env SCANPATH_GPU_TESTS_ON=cpu TRITON_INTERPRET=1 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/
else
  step pytest_gpu 150 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/
fi
step kernels 60 "$PY" benchmarks/bench_gpu_kernels.py --device "$DEVICE" "${Q[@]}" --json "$OUT/kernels.json"
if [ "$QUICK" = 1 ]; then
  step bench_core 90 "$PY" benchmarks/bench_core.py --device "$DEVICE" --quick
  step bench_env360 60 "$PY" benchmarks/bench_env360.py --device "$DEVICE" --quick
  step bench_oat 300 "$PY" benchmarks/bench_oat.py --device "$DEVICE" --trials 2 --rollouts 3 --ref-trials 1 --ref-rollouts 1 --train-steps 1
  step bench_nevaclip 90 "$PY" benchmarks/bench_nevaclip.py --device "$DEVICE" --images 2 --fixations 1 --iters 1
  step bench_eccnet 300 "$PY" benchmarks/bench_eccnet.py --device "$DEVICE" --quick
  step bench_metrics 90 "$PY" benchmarks/bench_metrics.py --device "$DEVICE" --n-pred 10 --n-hum 2 --repeat 1
else
  step bench_core 100 "$PY" benchmarks/bench_core.py --device "$DEVICE" --views 64
  step bench_env360 40 "$PY" benchmarks/bench_env360.py --device "$DEVICE" --envs 64 --steps 20
  step bench_env360_large 40 "$PY" benchmarks/bench_env360.py --device "$DEVICE" --envs 1024 --steps 10
  step bench_oat 60 "$PY" benchmarks/bench_oat.py --device "$DEVICE" --trials 60 --rollouts 100 --ref-trials 1 --ref-rollouts 10 --train-steps 5
  step bench_nevaclip 60 "$PY" benchmarks/bench_nevaclip.py --device "$DEVICE" --model RN50 --images 32 --fixations 5 --iters 10
  step bench_eccnet 90 "$PY" benchmarks/bench_eccnet.py --device "$DEVICE" --trials 2 --steps 3
  step bench_metrics 60 "$PY" benchmarks/bench_metrics.py --device "$DEVICE" --n-pred 1000 --n-hum 10 --ref-subset 300 --repeat 2
fi

# ---------------------------------------------------------------- 4. report
REC=(); [ "$RECORD" = 1 ] && REC=(--record)
"$PY" benchmarks/gpu_report.py "$OUT" "${REC[@]}" > /dev/null || { echo "gpu_suite: report failed" >&2; FAILED=1; }
echo "[gpu_suite] section: $OUT/GPU_SECTION.md$([ "$RECORD" = 1 ] && echo ' (recorded in benchmarks/RESULTS.md)')"
if [ -n "$PACK" ]; then
  mkdir -p "$PACK" && cp "$OUT/GPU_SECTION.md" "$PACK/" && tar czf "$PACK/gpu_results.tgz" -C "$(dirname "$OUT")" "$(basename "$OUT")"
fi
rm -rf "$SITE"
echo "[gpu_suite] total $((SECONDS - START)) s of a ${BUDGET} s budget; $([ $FAILED = 0 ] && echo 'all steps passed' || echo 'SOME STEPS FAILED')"
exit $FAILED
