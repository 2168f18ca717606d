"""Benchmark: the vectorised simulated observer of the SYNTHETIC search arrays.

Ours: ``simulate_observers`` (all trials advance together, one numpy step per fixation).
Reference: ``simulate_observer_reference`` (the same rules as a plain per-trial loop), run on the
same random numbers; the outputs are checked to be identical before timing is reported.

Usage: ``python benchmarks/bench_search_arrays.py [--layouts 1000] [--observers 3] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scanpath.stimuli.search_arrays import (
    generate_search_arrays,
    similarity,
    simulate_observer_reference,
    simulate_observers,
)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layouts", type=int, default=1000)
    ap.add_argument("--observers", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = generate_search_arrays(args.layouts, 1, seed=0)
    pos = np.stack(np.divmod(np.arange(27), 9), axis=1).astype(float)
    sim = np.repeat(np.stack([similarity(lay) for lay in data.layouts]), args.observers, axis=0)
    target = np.repeat([lay.target for lay in data.layouts], args.observers)
    u = np.random.default_rng(0).random((len(sim), 30, 4))

    objs, lens = simulate_observers(sim, pos, target, u)
    for i in range(len(sim)):  # same numbers in → same scanpaths out
        assert objs[i, : lens[i]].tolist() == simulate_observer_reference(sim[i], pos, int(target[i]), u[i])

    ours = best_of(lambda: simulate_observers(sim, pos, target, u), args.repeat)
    ref = best_of(lambda: [simulate_observer_reference(sim[i], pos, int(target[i]), u[i]) for i in range(len(sim))], 1)
    t_gen = best_of(lambda: generate_search_arrays(args.layouts, args.observers, seed=0), args.repeat)
    print(f"trials: {len(sim)} ({args.layouts} layouts × {args.observers} observers), outputs identical")
    print(f"| what | time [s] |")
    print(f"|---|---|")
    print(f"| ours: simulate_observers (vectorised) | {ours:.4f} |")
    print(f"| reference: per-trial loop | {ref:.4f} |")
    print(f"| ratio reference / ours | {ref / ours:.1f}× |")
    print(f"| full generate_search_arrays (layouts + observers + pixels) | {t_gen:.4f} |")


if __name__ == "__main__":
    main()
