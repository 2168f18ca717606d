"""CPU seconds per OAT training step (forward + backward + Adam, batch 20) on the SYNTHETIC search
arrays: the published size vs the quick-start size, with and without layout-grouped batches (the CNN
and encoder then run once per layout instead of once per trial). All variants run in this process,
back to back; ratios are against the published size with shuffled (ungrouped) batches.

    OMP_NUM_THREADS=1 python benchmarks/bench_oat_train_step.py [--layouts 200] [--steps 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanpath.datamodules.search_arrays import SearchArraysDataModule  # noqa: E402
from scanpath.models.oat.module import OATModule  # noqa: E402

VARIANTS = [
    ("published: d=512, 4+4 layers, crops 150×93", (150, 93),
     dict(d_model=512, n_encoder_layers=4, n_decoder_layers=4, dim_feedforward=512)),
    ("quick: d=128, 2+2 layers, FFN 256, crops 75×46", (75, 46),
     dict(d_model=128, n_encoder_layers=2, n_decoder_layers=2, dim_feedforward=256)),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layouts", type=int, default=200)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(int(torch.get_num_threads()))
    res = {}
    for name, crop, sizes in VARIANTS:
        for grouped in (False, True):
            dm = SearchArraysDataModule(num_layouts=args.layouts, crop_hw=crop, group_layouts=grouped,
                                        loader_exclude=["image", "target_crop"], keep_crops=True)
            dm.setup()
            torch.manual_seed(0)
            m = OATModule(grid=[3, 9], appearance="cnn", crop_hw=list(crop), **sizes)
            opt = torch.optim.Adam(m.parameters(), lr=1e-4)
            it = iter(dm.train_dataloader())
            batches = [next(it) for _ in range(args.steps + 1)]
            times = []
            for i, b in enumerate(batches):  # the first step is a warm-up
                t0 = time.process_time()
                loss = m.loss(b)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if i:
                    times.append(time.process_time() - t0)
            res[(name, grouped)] = sum(times) / len(times)
    ref = res[(VARIANTS[0][0], False)]
    print(f"threads {torch.get_num_threads()}, batch 20, {args.steps} timed steps after a warm-up")
    print("| variant | batches | CPU s/step | speed-up vs published, shuffled |")
    print("|---|---|---|---|")
    for (name, grouped), v in res.items():
        print(f"| {name} | {'layout-grouped' if grouped else 'shuffled'} | {v:.2f} | {ref / v:.1f}× |")


if __name__ == "__main__":
    main()
