#!/usr/bin/env bash
# Download the wheels benchmarks/gpu_suite.sh installs on an offline CUDA machine (Python 3.12,
# manylinux x86_64), on a machine that can reach the package index. See docs/gpu_suite.md.
#
#   bash benchmarks/fetch_gpu_wheels.sh [--dest .whl] [--list benchmarks/gpu_wheels.txt]
#                                       [--python-version 3.12] [--skip "name name ..."]
#                                       [--skip-file benchmarks/gpu_image_h200.txt]
#
#   --list     name==version lines (comments allowed); the default list is pinned to the versions of a
#              working environment and regenerated with benchmarks/gpu_wheels_list.py
#   --skip     distributions to leave out (e.g. ones the target image already has)
#   --skip-file  the same, one name per line (gpu_image_h200.txt: this workplace's H200 image)
#
# One `pip download --no-deps --only-binary=:all:` per line (a pure-Python sdist-only line is built
# into a py3-none-any wheel here instead), for CPython 3.12 on manylinux x86_64
# (every manylinux_2_N tag from 17 to 39, manylinux2014 and manylinux1: pip matches N exactly, so all
# are named); pure-Python wheels match any platform. Older versions of the same distribution are
# removed from DEST (two versions stop gpu_suite.sh's install). Exit code 1 if any line failed.
set -u
DEST=.whl
LIST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gpu_wheels.txt"
PYV=3.12
SKIP=""
PY="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) DEST="$2"; shift 2 ;;
    --list) LIST="$2"; shift 2 ;;
    --python-version) PYV="$2"; shift 2 ;;
    --skip) SKIP="$SKIP $2"; shift 2 ;;
    --skip-file) SKIP="$SKIP $(grep -v '^#' "$2" | tr '\n' ' ')"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "fetch_gpu_wheels: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$LIST" ] || { echo "fetch_gpu_wheels: no list $LIST" >&2; exit 2; }
mkdir -p "$DEST"
PLAT=()
for n in $(seq 17 39); do PLAT+=(--platform "manylinux_2_${n}_x86_64"); done
PLAT+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
norm() { echo "$1" | tr 'A-Z_.' 'a-z--'; }
FAIL=()
while IFS= read -r line; do
  req="${line%%#*}"; req="$(echo "$req" | tr -d '[:space:]')"
  [ -z "$req" ] && continue
  name="$(norm "${req%%==*}")"
  case " $(norm "$SKIP") " in *" $name "*) echo "skip $name"; continue ;; esac
  # drop other versions of this distribution already in DEST
  ver="${req##*==}"
  for w in "$DEST"/*.whl; do
    [ -e "$w" ] || continue
    b="$(basename "$w")"
    if [ "$(norm "${b%%-*}")" = "$name" ] && [ "$(echo "$b" | cut -d- -f2)" != "$ver" ]; then
      echo "remove other version $b"; rm -f "$w"
    fi
  done
  if ! "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
      "${PLAT[@]}" -d "$DEST" "$req" 2>/dev/null; then
    # no wheel on the index (antlr4-python3-runtime 4.9.3 ships an sdist only): build it here, and keep
    # it only if it is pure Python (py3-none-any), which installs on any CPython 3
    tmp="$(mktemp -d)"
    if "$PY" -m pip wheel -q --no-deps -w "$tmp" "$req" && ls "$tmp"/*-py3-none-any.whl > /dev/null 2>&1; then
      echo "built pure-Python wheel for $req (sdist only on the index)"; mv "$tmp"/*.whl "$DEST"/
    else
      FAIL+=("$req")
    fi
    rm -rf "$tmp"
  fi
done < "$LIST"
total=$(du -cm "$DEST"/*.whl 2>/dev/null | tail -n 1 | cut -f1)
echo "fetch_gpu_wheels: $(ls "$DEST"/*.whl 2>/dev/null | wc -l) wheels, ${total:-0} MiB in $DEST"
if [ "${total:-0}" -gt 60 ]; then
  echo "note: over 60 MiB; a device call that carries $DEST is limited to 64 MiB with the working tree:" \
       "use --skip for distributions the target image already has (docs/gpu_suite.md)"
fi
if [ ${#FAIL[@]} -gt 0 ]; then
  echo "fetch_gpu_wheels: FAILED for: ${FAIL[*]}" >&2
  exit 1
fi
