"""Batched OAT rollouts: greedy and multinomial sampling.

The encoder runs ONCE per trial; its memory (and the cross-attention keys/values of every decoder
layer, and the pointer-head keys) are computed for the B trials and shared by the K rollouts of each
trial, which are decoded in parallel as B·K rows with a self-attention KV cache. Finished rows are
frozen (dropped from the active set); decoding stops when every row has emitted EOS or at
``max_len``.

Masking: step 1 allows objects ``0..N-1`` only; later steps allow ``0..N`` (N = EOS); PAD (N+1) is
never allowed. The output stops at the first EOS (not included), so lengths lie in [1, max_len].

Random stream: rollout (b, k) at step t consumes the uniform ``u[b, k, t]`` and picks the first
token whose cumulative (float64) probability exceeds ``u``·total (inverse-CDF sampling). By default
``u[b]`` is drawn from a generator seeded by ``trial_seed(seed, trial_id)``, so a rollout depends on
(seed, trial id, k) only — not on batch composition — and :func:`decode_sequential` (one rollout at a
time, batch 1, full recompute — the upstream protocol) reproduces :func:`decode` given the same
uniforms.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scanpath.models.oat.torch_model import OATInputs, OATModel


@dataclass
class Rollouts:
    """Decoded object sequences: ``tokens`` ``(B, K, L)`` long (−1 after the end), ``lengths``
    ``(B, K)``; ``eos`` ``(B, K)`` bool = the rollout ended by pointing at the target token."""

    tokens: Tensor
    lengths: Tensor
    eos: Tensor

    def to_lists(self) -> list[list[list[int]]]:
        out = []
        for b in range(self.tokens.shape[0]):
            out.append([self.tokens[b, k, : int(self.lengths[b, k])].tolist() for k in range(self.tokens.shape[1])])
        return out


def trial_seed(seed: int, trial_id: str | int) -> int:
    """Stable 63-bit seed for one trial (independent of batch composition and Python hashing)."""
    h = hashlib.blake2b(f"{int(seed)}|{trial_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def rollout_uniforms(seeds: Sequence[int], k: int, max_len: int) -> Tensor:
    """Uniforms ``(B, K, max_len)`` float64, row b from ``torch.Generator().manual_seed(seeds[b])``."""
    out = torch.empty(len(seeds), k, max_len, dtype=torch.float64)
    for b, s in enumerate(seeds):
        out[b] = torch.rand(k, max_len, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float64)
    return out


def allowed_mask(step: int, n_objects: int, device: torch.device | str = "cpu") -> Tensor:
    """``(N+2,)`` bool: which tokens may be emitted at 0-based ``step``."""
    m = torch.zeros(n_objects + 2, dtype=torch.bool, device=device)
    m[:n_objects] = True
    if step > 0:
        m[n_objects] = True
    return m


def select_tokens(logits: Tensor, step: int, n_objects: int, u: Tensor | None) -> Tensor:
    """Masked argmax (``u`` None) or inverse-CDF sample with uniforms ``u`` ``(rows,)``."""
    allowed = allowed_mask(step, n_objects, logits.device)
    masked = logits.masked_fill(~allowed, float("-inf"))
    if u is None:
        return masked.argmax(-1)
    p = torch.softmax(masked.double(), dim=-1)
    cdf = p.cumsum(-1)
    idx = (cdf <= (u.to(device=cdf.device, dtype=cdf.dtype) * cdf[:, -1])[:, None]).sum(-1)
    last_allowed = int(torch.nonzero(allowed)[-1])
    idx = idx.clamp(max=last_allowed)
    # p == 0 tokens (masked) can only be hit through rounding at the very top: step back.
    bad = p.gather(1, idx[:, None])[:, 0] == 0
    if bad.any():
        idx[bad] = (p[bad] > 0).long().cumsum(-1).argmax(-1)
    return idx


# ---------------------------------------------------------------------------- incremental decoder
def _split_heads(x: Tensor, n_heads: int) -> Tensor:
    """(rows, d) → (rows, H, 1, dh)."""
    r, d = x.shape
    return x.view(r, n_heads, 1, d // n_heads)


class _IncrementalDecoder:
    """Post-norm ``nn.TransformerDecoder`` run one position at a time with a KV cache (eval mode)."""

    def __init__(self, model: OATModel, memory: Tensor, k: int) -> None:
        self.layers = list(model.decoder.layers)
        for layer in self.layers:
            if getattr(layer, "norm_first", False):
                raise ValueError("incremental decoding implements the post-norm layer only")
        self.n_heads = self.layers[0].self_attn.num_heads
        self.k = k
        s, b, d = memory.shape
        self.b = b
        self.mem_kv = []  # per layer: (B, H, S, dh) keys and values, computed once per trial
        for layer in self.layers:
            w, bias = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
            kv = F.linear(memory, w[d:], bias[d:])  # (S, B, 2d)
            kk, vv = kv.chunk(2, dim=-1)
            kk = kk.view(s, b, self.n_heads, d // self.n_heads).permute(1, 2, 0, 3)
            vv = vv.view(s, b, self.n_heads, d // self.n_heads).permute(1, 2, 0, 3)
            self.mem_kv.append((kk, vv))
        self.cache: list[tuple[Tensor, Tensor] | None] = [None] * len(self.layers)

    def keep(self, idx: Tensor) -> None:
        """Drop finished rows from the self-attention cache."""
        self.cache = [None if c is None else (c[0][idx], c[1][idx]) for c in self.cache]

    def _cross(self, layer: nn.Module, x: Tensor, rows: Tensor) -> Tensor:
        """Cross-attention of the active rows against their trial's memory, grouped as (B, K)."""
        d = x.shape[-1]
        mha = layer.multihead_attn
        q = F.linear(x, mha.in_proj_weight[:d], mha.in_proj_bias[:d])
        full = x.new_zeros(self.b * self.k, d)
        full[rows] = q
        qh = full.view(self.b, self.k, self.n_heads, d // self.n_heads).transpose(1, 2)  # B H K dh
        kk, vv = self.mem_kv[self._li]
        att = F.scaled_dot_product_attention(qh, kk, vv)  # B H K dh
        out = att.transpose(1, 2).reshape(self.b * self.k, d)[rows]
        return mha.out_proj(out)

    def step(self, x: Tensor, rows: Tensor) -> Tensor:
        """One position for the active ``rows`` (flat b·K + k ids); ``x`` (A, d) → (A, d)."""
        d = x.shape[-1]
        for li, layer in enumerate(self.layers):
            self._li = li
            sa = layer.self_attn
            qkv = F.linear(x, sa.in_proj_weight, sa.in_proj_bias)
            q, kk, vv = (_split_heads(t, self.n_heads) for t in qkv.chunk(3, dim=-1))
            c = self.cache[li]
            if c is not None:
                kk = torch.cat([c[0], kk], dim=2)
                vv = torch.cat([c[1], vv], dim=2)
            self.cache[li] = (kk, vv)
            att = F.scaled_dot_product_attention(q, kk, vv).reshape(x.shape[0], d)
            x = layer.norm1(x + sa.out_proj(att))
            x = layer.norm2(x + self._cross(layer, x, rows))
            x = layer.norm3(x + layer.linear2(layer.activation(layer.linear1(x))))
        return x


# ---------------------------------------------------------------------------- public API
@torch.no_grad()
def decode(
    model: OATModel,
    x: OATInputs,
    k: int = 1,
    max_len: int = 30,
    greedy: bool = True,
    uniforms: Tensor | None = None,
    seed: int = 0,
    trial_ids: Sequence[str | int] | None = None,
    use_cache: bool = True,
) -> Rollouts:
    """Decode ``k`` rollouts for each of the B trials in ``x`` (module docstring).

    ``uniforms`` ``(B, K, max_len)`` overrides the random stream; otherwise it comes from
    ``trial_seed(seed, trial_ids[b])`` (trial ids default to the batch position). ``use_cache=False``
    recomputes the decoder over the whole prefix each step (a check on the KV cache).
    """
    if max_len < 1:
        raise ValueError(f"max_len must be ≥ 1, got {max_len}")
    was_training = model.training
    model.eval()
    try:
        return _decode(model, x, k, max_len, greedy, uniforms, seed, trial_ids, use_cache)
    finally:
        model.train(was_training)


def _decode(
    model: OATModel,
    x: OATInputs,
    k: int,
    max_len: int,
    greedy: bool,
    uniforms: Tensor | None,
    seed: int,
    trial_ids: Sequence[str | int] | None,
    use_cache: bool,
) -> Rollouts:
    n = x.n_objects
    b = x.batch_size
    dev = x.target.device
    if not greedy and uniforms is None:
        ids = list(trial_ids) if trial_ids is not None else list(range(b))
        uniforms = rollout_uniforms([trial_seed(seed, t) for t in ids], k, max_len)
    if uniforms is not None:
        if uniforms.shape[:2] != (b, k) or uniforms.shape[2] < max_len:
            raise ValueError(f"uniforms must be (B, K, ≥max_len) = ({b}, {k}, {max_len}), got {tuple(uniforms.shape)}")
        u_flat = uniforms.to(dev).reshape(b * k, -1)

    memory, mem_keys, dec_table, bos = model.encode(x)  # once per trial
    rows_total = b * k
    owner = torch.arange(b, device=dev).repeat_interleave(k)  # trial of each flat row
    tokens = torch.full((rows_total, max_len), -1, dtype=torch.long, device=dev)
    lengths = torch.zeros(rows_total, dtype=torch.long, device=dev)
    eos = torch.zeros(rows_total, dtype=torch.bool, device=dev)
    rows = torch.arange(rows_total, device=dev)  # active rows
    inc = _IncrementalDecoder(model, memory, k) if use_cache else None
    prefix = torch.full((1, rows_total), n + 2, dtype=torch.long, device=dev)  # BOS (no-cache path)
    last = torch.full((rows_total,), n + 2, dtype=torch.long, device=dev)  # last input token per row

    for t in range(max_len):
        own = owner[rows]
        if inc is not None:
            emb = _embed_step(model, last[rows], dec_table[own], bos, t)
            y = inc.step(emb, rows)  # (A, d)
            logits = _pointer_logits(model, y, mem_keys, rows, b, k)
        else:
            tgt = model.embed_decoder_inputs(prefix[:, rows], dec_table[own], bos)
            tt = tgt.shape[0]
            causal = torch.triu(torch.full((tt, tt), float("-inf"), device=dev), diagonal=1)
            out = model.decoder(tgt, memory[:, own], tgt_mask=causal)
            logits = model.head(out[-1:], mem_keys[own])[0]
        u = None if greedy else u_flat[rows, t]
        nxt = select_tokens(logits, t, n, u)
        finished = nxt == n
        eos[rows[finished]] = True
        emit = rows[~finished]
        tokens[emit, t] = nxt[~finished]
        lengths[emit] += 1
        last[rows] = nxt
        if inc is None:
            col = torch.full((rows_total,), n + 1, dtype=torch.long, device=dev)
            col[rows] = nxt
            prefix = torch.cat([prefix, col[None]], dim=0)
        keep = ~finished
        if not bool(keep.all()):
            rows = rows[keep]
            if inc is not None:
                inc.keep(torch.nonzero(keep)[:, 0])
        if rows.numel() == 0:
            break
    return Rollouts(tokens.view(b, k, max_len), lengths.view(b, k), eos.view(b, k))


def _embed_step(model: OATModel, last: Tensor, dec_table_rows: Tensor, bos: Tensor, t: int) -> Tensor:
    """Embedding of the input token at position ``t`` for each active row: (A, d)."""
    n2 = dec_table_rows.shape[1]
    is_bos = last == n2
    emb = dec_table_rows[torch.arange(last.shape[0], device=last.device), last.clamp(max=n2 - 1)]
    emb = torch.where(is_bos[:, None], bos.expand_as(emb), emb)
    return emb + model.pos_1d[t]


def _pointer_logits(model: OATModel, y: Tensor, mem_keys: Tensor, rows: Tensor, b: int, k: int) -> Tensor:
    """Object-attention logits (A, N+2) of active rows; rollouts of a trial share its keys."""
    head = model.head
    d = head.d_model
    q = head.dec_proj(y).view(-1, head.n_heads, d)  # A H d
    full = y.new_zeros(b * k, head.n_heads, d)
    full[rows] = q
    qh = full.view(b, k, head.n_heads, d).transpose(1, 2)  # B H K d
    scores = torch.matmul(qh, mem_keys.transpose(-1, -2)) / math.sqrt(d)  # B H K S
    scores = torch.cat([scores, scores.new_zeros(scores.shape[:-1] + (1,))], dim=-1)
    logits = torch.einsum("bhks,h->bks", scores, head.readout.weight[0]) + head.readout.bias[0]
    return logits.reshape(b * k, -1)[rows]


@torch.no_grad()
def decode_sequential(
    model: OATModel, x: OATInputs, k: int, max_len: int, greedy: bool = True, uniforms: Tensor | None = None
) -> Rollouts:
    """Reference: the upstream protocol — batch 1, one rollout at a time, encoder and full decoder
    recomputed at every step. Slow; used by tests and the benchmark."""
    was_training = model.training
    model.eval()
    n, b = x.n_objects, x.batch_size
    tokens = torch.full((b, k, max_len), -1, dtype=torch.long)
    lengths = torch.zeros(b, k, dtype=torch.long)
    eos = torch.zeros(b, k, dtype=torch.bool)
    try:
        for i in range(b):
            xi = x.select(slice(i, i + 1))
            for j in range(k):
                seq = [n + 2]
                for t in range(max_len):
                    inp = torch.tensor(seq, dtype=torch.long, device=x.target.device)[:, None]
                    logits = model(xi, inp)[-1]  # (1, N+2)
                    u = None if greedy or uniforms is None else uniforms[i, j, t : t + 1]
                    nxt = int(select_tokens(logits, t, n, u)[0])
                    if nxt == n:
                        eos[i, j] = True
                        break
                    tokens[i, j, t] = nxt
                    lengths[i, j] += 1
                    seq.append(nxt)
    finally:
        model.train(was_training)
    return Rollouts(tokens, lengths, eos)
