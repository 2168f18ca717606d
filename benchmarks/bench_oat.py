"""OAT benchmark: batched rollouts vs the upstream batch-1 loop, and training throughput.

Rollouts: 100 stochastic rollouts for each of 60 Amazon test-style trials (layout-only model,
6×14 grid). Ours = :func:`scanpath.models.oat.decoding.decode` (encoder once per trial, K rollouts of
many trials in parallel, KV cache, finished rows dropped). Reference = the upstream protocol,
:func:`decode_sequential` (batch 1, one rollout at a time, encoder + full decoder recomputed every
step) on the same model and the same random stream. The reference is too slow to run in full on a
CPU, so it runs on the first ``--ref-trials`` trials × ``--ref-rollouts`` rollouts; its outputs are
checked token-for-token against ours and its time is extrapolated linearly per rollout (printed as
such). Training throughput: trials/s of teacher-forced training steps (batch 20, Adam, clip 1.0).

    python benchmarks/bench_oat.py [--ckpt path/to/oat.ckpt] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone

import torch

from scanpath.models.oat.decoding import decode, decode_sequential, rollout_uniforms, trial_seed
from scanpath.models.oat.pe import get_pe_table
from scanpath.models.oat.torch_model import OATInputs, OATModel, teacher_forcing_tokens


def load_model(ckpt: str | None, device: str) -> tuple[OATModel, int, str]:
    if ckpt:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        info = state["oat"]
        table = state["state_dict"]["net.pe_table"]
        net = OATModel(table, appearance=info["appearance"], grid=tuple(info["grid"]))
        net.load_state_dict({k[4:]: v for k, v in state["state_dict"].items() if k.startswith("net.")})
        return net.to(device).eval(), int(info["max_len"]), f"trained checkpoint {ckpt}"
    torch.manual_seed(0)
    net = OATModel(get_pe_table(14), appearance="embedding", grid=(6, 14))
    with torch.no_grad():  # make EOS reachable so rollout lengths resemble trained ones (~15)
        net.head.readout.bias.zero_()
    return net.to(device).eval(), 58, "random init (Xavier)"


def bench_rollouts(net: OATModel, max_len: int, n_trials: int, k: int, ref_trials: int, ref_rollouts: int, device: str) -> dict:
    gen = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 84, (n_trials,), generator=gen).to(device)
    x = OATInputs(grid=(6, 14), target=targets)
    u = rollout_uniforms([trial_seed(0, i) for i in range(n_trials)], k, max_len)
    kw = min(4, k)  # warm-up on a slice of the real inputs (k may be < 4 in a quick run)
    decode(net, OATInputs(grid=(6, 14), target=targets[:2]), k=kw, max_len=4, greedy=False, uniforms=u[:2, :kw])
    t0 = time.perf_counter()
    ours = decode(net, x, k=k, max_len=max_len, greedy=False, uniforms=u)
    if device == "cuda":
        torch.cuda.synchronize()
    t_ours = time.perf_counter() - t0

    xr = OATInputs(grid=(6, 14), target=targets[:ref_trials])
    t0 = time.perf_counter()
    ref = decode_sequential(net, xr, k=ref_rollouts, max_len=max_len, greedy=False, uniforms=u[:ref_trials, :ref_rollouts])
    if device == "cuda":
        torch.cuda.synchronize()
    t_ref_part = time.perf_counter() - t0
    same = torch.equal(ref.tokens.cpu(), ours.tokens[:ref_trials, :ref_rollouts].cpu())
    # extrapolate by decoder steps actually taken (a rollout of length L costs L+1 steps)
    steps_part = float((ref.lengths + ref.eos.long()).sum())
    steps_all = float((ours.lengths + ours.eos.long()).sum())
    t_ref = t_ref_part * steps_all / steps_part
    return {"t_ours": t_ours, "t_ref": t_ref, "t_ref_part": t_ref_part, "ref_steps": steps_part,
            "all_steps": steps_all, "same": same, "mean_len": float(ours.lengths.float().mean())}


def bench_training(net: OATModel, max_len: int, steps: int, device: str) -> dict:
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    b = 20
    lengths = torch.randint(5, 25, (b,), generator=gen)
    objs = torch.randint(0, 84, (b, int(lengths.max())), generator=gen)
    x = OATInputs(grid=(6, 14), target=torch.randint(0, 84, (b,), generator=gen).to(device),
                  crops=torch.rand(b, 84, 3, 150, 93, generator=gen).to(device) if net.appearance == "cnn" else None)
    inp, tgt, pad = (t.to(device) for t in teacher_forcing_tokens(objs, lengths, 84))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        logits = net(x, inp, pad)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 86), tgt.reshape(-1), ignore_index=85)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"trials_per_s": steps * b / dt, "steps": steps, "mean_len": float(lengths.float().mean())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--rollouts", type=int, default=100)
    ap.add_argument("--ref-trials", type=int, default=1)
    ap.add_argument("--ref-rollouts", type=int, default=10)
    ap.add_argument("--train-steps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    net, max_len, what = load_model(args.ckpt, args.device)
    r = bench_rollouts(net, max_len, args.trials, args.rollouts, args.ref_trials, args.ref_rollouts, args.device)
    tr = bench_training(net, max_len, args.train_steps, args.device)
    cnn = OATModel(net.pe_table.cpu(), appearance="cnn").to(args.device)
    tr_cnn = bench_training(cnn, max_len, max(2, args.train_steps // 2), args.device)
    print(f"OAT benchmark — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {platform.machine()} "
          f"{args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, model: {what}")
    print(f"rollouts: {args.trials} trials × {args.rollouts} sampled rollouts, max_len {max_len}, "
          f"mean length {r['mean_len']:.1f}, decoder steps {r['all_steps']:.0f}")
    print("| what | time (s) | ratio |")
    print("|---|---|---|")
    print(f"| ours: batched decode (encoder once/trial, KV cache) | {r['t_ours']:.2f} | 1.0 |")
    print(f"| reference: upstream batch-1 loop, measured on {args.ref_trials}×{args.ref_rollouts} rollouts "
          f"({r['t_ref_part']:.2f} s, {r['ref_steps']:.0f} steps), extrapolated by steps | {r['t_ref']:.1f} | "
          f"{r['t_ref'] / r['t_ours']:.1f}× |")
    print(f"outputs identical on the measured subset: {r['same']}")
    print(f"training throughput (batch 20, mean length {tr['mean_len']:.1f}): layout-only "
          f"{tr['trials_per_s']:.1f} trials/s; CNN (84 crops/trial) {tr_cnn['trials_per_s']:.2f} trials/s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
