"""OAT — Object-level Attention Transformer (Fang et al., ECCV 2024), plain ``nn.Module``.

The encoder reads one token per object (appearance 256 ‖ position 256) plus one target token; the
decoder reads BOS and the objects fixated so far; a pointer-style object-attention head scores the
N+1 encoder outputs (pointing at the target token = EOS) plus a constant-0 PAD column.

Vocabulary for a grid with N objects: ``0..N-1`` objects (row-major), ``EOS = N``, ``PAD = N+1``,
``BOS = N+2`` (BOS is only an input token). Tensors are sequence-first, like upstream:
logits are ``(T, B, N+2)``.

Layout-only variant (``appearance="embedding"``, a documented deviation for data without images):
the appearance CNN is replaced by a learned table ``E`` of shape ``(N+1, 256)``; row ``i`` is cell
``i`` and row ``N`` the blank token (BOS/EOS/PAD). How the layout-only encoder learns which cell is the
target is ``target_cue`` (docs/oat.md §3.1): ``"token"`` (as specified) — only the target token says it,
as E[target] ‖ PE(r_t, c_t, 1); ``"flag"`` — the target's own object token carries the target flag
f = 1 and the target token's appearance half is the blank row, so "point at the flagged object" holds
for target cells never seen as targets in training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

D_MODEL = 512
D_HALF = 256
CROP_H, CROP_W = 150, 93
PE_COLS = 86  # 3 × 86 = 258 → truncated to 256
TARGET_CUES = ("token", "flag")


@dataclass
class OATInputs:
    """Per-trial inputs shared by training and decoding.

    ``grid`` (R, C) is the same for every trial in the batch; ``target`` ``[B]`` long;
    ``crops`` ``[B, N, 3, 150, 93]`` in [0, 1] (image mode) or None (layout-only).
    ``target_crop`` ``[B, 3, 150, 93]`` optional (defaults to the target's own crop).
    """

    grid: tuple[int, int]
    target: Tensor
    crops: Tensor | None = None
    target_crop: Tensor | None = None
    layout_index: Tensor | None = None

    @property
    def n_objects(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def batch_size(self) -> int:
        return int(self.target.shape[0])

    def trial_crops(self) -> Tensor | None:
        """Crops ``(B, N, 3, h, w)`` per trial (expands the deduplicated layout crops)."""
        if self.crops is None or self.layout_index is None:
            return self.crops
        return self.crops[self.layout_index]

    def select(self, idx: Tensor | slice) -> "OATInputs":
        """The trials ``idx`` (keeps the layout crops shared, re-indexing ``layout_index``)."""
        return OATInputs(
            grid=self.grid,
            target=self.target[idx],
            crops=self.crops if self.layout_index is not None else (None if self.crops is None else self.crops[idx]),
            target_crop=None if self.target_crop is None else self.target_crop[idx],
            layout_index=None if self.layout_index is None else self.layout_index[idx],
        )

    def unique_tasks(self) -> tuple["OATInputs", Tensor | None]:
        """One row per distinct (layout, target) and the inverse index ``(B,)``; ``(self, None)`` when
        the batch carries no ``layout_index`` (nothing known to be shared).

        Trials of one layout and target (the observers of a search array, the subjects of a collage)
        have identical encoder inputs, so the CNN and the encoder run once for them."""
        if self.layout_index is None:
            return self, None
        n = self.n_objects
        key = self.layout_index.long() * n + self.target.long()
        uniq, inv = torch.unique(key, return_inverse=True)
        if uniq.numel() == key.numel() and self.target_crop is None:
            return self, None
        rep = torch.zeros(uniq.numel(), dtype=torch.long, device=key.device)
        rep.scatter_(0, inv, torch.arange(key.numel(), device=key.device))
        return OATInputs(
            grid=self.grid,
            target=uniq % n,
            crops=self.crops,
            target_crop=None if self.target_crop is None else self.target_crop[rep],
            layout_index=uniq // n,
        ), inv


def cnn_flat_dim(crop_hw: tuple[int, int]) -> int:
    """Flattened feature size of :class:`AppearanceCNN` for ``crop_hw`` (1440 for 150×93)."""
    h, w = (int(v) for v in crop_hw)
    h2, w2 = ((h - 4) // 5 - 2) // 3, ((w - 4) // 5 - 2) // 3
    if h2 < 1 or w2 < 1:
        raise ValueError(f"crops of {h}×{w} are too small for the appearance CNN (need ≥ 29×29)")
    return 32 * h2 * w2


@dataclass(frozen=True)
class OATArch:
    """Everything that fixes the network's shape (one object, not an argument list restated between
    the Lightning module and the network). Published values are the defaults (docs/oat.md §2)."""

    grid: tuple[int, int]
    appearance: str = "cnn"  # cnn (published) | embedding (layout-only deviation)
    crop_hw: tuple[int, int] = (CROP_H, CROP_W)
    d_model: int = D_MODEL
    n_heads: int = 4
    n_encoder_layers: int = 4
    n_decoder_layers: int = 4
    dim_feedforward: int = 512
    dropout: float = 0.1
    n_pointer_heads: int = 2
    target_cue: str = "token"  # token (as specified) | flag (layout-only: the target's object token is flagged)

    def net_kwargs(self) -> dict:
        return {"appearance": self.appearance, "grid": self.grid, "crop_hw": self.crop_hw, "d_model": self.d_model,
                "n_heads": self.n_heads, "n_encoder_layers": self.n_encoder_layers,
                "n_decoder_layers": self.n_decoder_layers, "dim_feedforward": self.dim_feedforward,
                "dropout": self.dropout, "n_pointer_heads": self.n_pointer_heads, "target_cue": self.target_cue}

    @property
    def label(self) -> str:
        """``"published"`` or what differs from it, e.g. ``"quick: d=128, 2+2 layers, crops 75×46"``."""
        diff = []
        if (self.d_model, self.n_heads, self.dim_feedforward) != (D_MODEL, 4, 512):
            diff.append(f"d={self.d_model}" + (f", {self.n_heads} heads" if self.n_heads != 4 else "")
                        + (f", FFN {self.dim_feedforward}" if self.dim_feedforward != self.d_model else ""))
        if (self.n_encoder_layers, self.n_decoder_layers) != (4, 4):
            diff.append(f"{self.n_encoder_layers}+{self.n_decoder_layers} layers")
        if self.appearance == "cnn" and tuple(self.crop_hw) != (CROP_H, CROP_W):
            diff.append(f"crops {self.crop_hw[0]}×{self.crop_hw[1]}")
        if self.target_cue != "token":
            diff.append("target cell flagged")
        return "quick: " + ", ".join(diff) if diff else "published"


def resolve_arch(
    grid: Sequence[int] | None,
    appearance: str,
    crop_hw: Sequence[int] | None,
    source: Any = None,
    **sizes: Any,
) -> OATArch | None:
    """Decide the architecture once: configured values win; ``None`` / ``"auto"`` come from
    ``source`` — an object-layout datamodule (``grid``, ``layout_only``, ``crop_hw``) or a collated
    batch (``grid``, ``crops``). ``None`` when the grid or appearance cannot be decided yet."""
    if isinstance(source, Mapping):  # a batch
        crops = source.get("crops")
        has_crops = isinstance(crops, Tensor)
        src_grid = tuple(int(v) for v in source["grid"][0]) if source.get("grid") is not None else None
        src_app = "cnn" if has_crops else "embedding"
        src_crop = tuple(int(v) for v in crops.shape[-2:]) if has_crops else None
    elif source is not None:  # a datamodule
        src_grid = tuple(source.grid) if hasattr(source, "grid") else None
        src_app = ("embedding" if source.layout_only else "cnn") if hasattr(source, "layout_only") else None
        src_crop = tuple(source.crop_hw) if hasattr(source, "crop_hw") else None
    else:
        src_grid = src_app = src_crop = None
    g = tuple(int(v) for v in grid) if grid is not None else src_grid
    app = appearance if appearance != "auto" else src_app
    if g is None or app is None:
        return None
    crop = tuple(int(v) for v in crop_hw) if crop_hw else (src_crop or (CROP_H, CROP_W))
    return OATArch(grid=(int(g[0]), int(g[1])), appearance=app, crop_hw=crop, **sizes)


class AppearanceCNN(nn.Module):
    """3×150×93 crop → Conv5(16) → ReLU → MaxPool5 → Conv3(32) → ReLU → MaxPool3 → 1440 → 256.

    ``crop_hw`` other than the published 150×93 (a quick-start knob for the synthetic arrays) only
    changes the input size of the linear layer (e.g. 75×46 → 256)."""

    def __init__(self, out_dim: int = D_HALF, crop_hw: tuple[int, int] = (CROP_H, CROP_W)) -> None:
        super().__init__()
        self.crop_hw = (int(crop_hw[0]), int(crop_hw[1]))
        self.conv1 = nn.Conv2d(3, 16, 5)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.fc = nn.Linear(cnn_flat_dim(self.crop_hw), out_dim)

    def features(self, x: Tensor) -> Tensor:
        """The flattened 1440-d feature before the linear layer."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 5)
        x = F.max_pool2d(F.relu(self.conv2(x)), 3)
        return x.flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-3:]) != (3, *self.crop_hw):
            raise ValueError(f"appearance CNN expects crops of shape (3, {self.crop_hw[0]}, {self.crop_hw[1]}), "
                             f"got {tuple(x.shape[-3:])}")
        return self.fc(self.features(x))


def sinusoidal_pe(length: int, d_model: int = D_MODEL, base: float = 10000.0) -> Tensor:
    """Standard 1-D sinusoidal positional encoding ``[length, d_model]`` (position 0 = BOS)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(base) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class ObjectAttentionHead(nn.Module):
    """Two pointer heads s_h = (W_d^h y)·(W_e^h m)/√512, mixed by Linear(2→1); PAD column = 0."""

    def __init__(self, d_model: int = D_MODEL, n_heads: int = 2) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_model = d_model
        # One Linear(512 → 2·512) per side == two Linear(512 → 512) heads (same parameters).
        self.dec_proj = nn.Linear(d_model, n_heads * d_model)
        self.enc_proj = nn.Linear(d_model, n_heads * d_model)
        self.readout = nn.Linear(n_heads, 1)

    def reset_parameters(self) -> None:
        """Xavier-uniform per head, as upstream's separate ``Linear(d, d)`` layers (bound √(6/2d),
        0.0765 for d = 512; one Xavier draw over the fused ``(2d, d)`` weight would give 0.0625)."""
        for lin in (self.dec_proj, self.enc_proj):
            with torch.no_grad():
                for h in range(self.n_heads):
                    nn.init.xavier_uniform_(lin.weight[h * self.d_model : (h + 1) * self.d_model])
        nn.init.xavier_uniform_(self.readout.weight)

    def project_memory(self, memory: Tensor) -> Tensor:
        """``memory`` (S, B, d) → keys (B, H, S, d); computed once per trial when decoding."""
        s, b, _ = memory.shape
        return self.enc_proj(memory).view(s, b, self.n_heads, self.d_model).permute(1, 2, 0, 3)

    def forward(self, dec_out: Tensor, mem_keys: Tensor) -> Tensor:
        """``dec_out`` (T, B, d), ``mem_keys`` (B, H, S, d) → logits (T, B, S+1) (last = PAD)."""
        t, b, _ = dec_out.shape
        q = self.dec_proj(dec_out).view(t, b, self.n_heads, self.d_model).permute(1, 2, 0, 3)  # B H T d
        scores = torch.matmul(q, mem_keys.transpose(-1, -2)) / math.sqrt(self.d_model)  # B H T S
        pad = scores.new_zeros(scores.shape[:-1] + (1,))
        scores = torch.cat([scores, pad], dim=-1)  # B H T S+1
        logits = torch.einsum("bhts,h->tbs", scores, self.readout.weight[0]) + self.readout.bias[0]
        return logits


class OATModel(nn.Module):
    """The OAT network. ``appearance`` is ``"cnn"`` (published) or ``"embedding"`` (layout-only).

    ``pe_table`` is the frozen ``(R_pe, 86)`` position table (see :mod:`scanpath.models.oat.pe`);
    ``grid`` is required for the embedding variant (its table has N+1 rows) and fixes the BOS position.
    """

    def __init__(
        self,
        pe_table: Tensor,
        appearance: str = "cnn",
        grid: tuple[int, int] | None = None,
        d_model: int = D_MODEL,
        n_heads: int = 4,
        n_encoder_layers: int = 4,
        n_decoder_layers: int = 4,
        dim_feedforward: int = 512,
        dropout: float = 0.1,
        n_pointer_heads: int = 2,
        max_positions: int = 512,
        crop_hw: tuple[int, int] = (CROP_H, CROP_W),
        target_cue: str = "token",
    ) -> None:
        super().__init__()
        if appearance not in ("cnn", "embedding"):
            raise ValueError(f"appearance must be 'cnn' or 'embedding', got {appearance!r}")
        if target_cue not in TARGET_CUES:
            raise ValueError(f"target_cue must be one of {TARGET_CUES}, got {target_cue!r}")
        if target_cue == "flag" and appearance != "embedding":
            raise ValueError("target_cue='flag' is for the layout-only (embedding) variant; the CNN variant "
                             "identifies the target by its crop (target_cue='token')")
        self.target_cue = target_cue
        if pe_table.ndim != 2 or pe_table.shape[1] * 3 < d_model // 2:
            raise ValueError(f"pe_table must be (R_pe, ≥{math.ceil(d_model / 6)}), got {tuple(pe_table.shape)}")
        self.appearance = appearance
        self.grid = tuple(int(g) for g in grid) if grid is not None else None
        self.d_model = d_model
        if appearance == "embedding":
            if self.grid is None:
                raise ValueError("the layout-only (embedding) variant needs grid=(R, C)")
            self.embedding = nn.Embedding(self.grid[0] * self.grid[1] + 1, d_model // 2)
        else:
            self.cnn = AppearanceCNN(d_model // 2, crop_hw)
        self.register_buffer("pe_table", pe_table.detach().to(torch.float32).clone())
        self.register_buffer("pos_1d", sinusoidal_pe(max_positions, d_model), persistent=False)
        enc_layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward, dropout, norm_first=False)
        dec_layer = nn.TransformerDecoderLayer(d_model, n_heads, dim_feedforward, dropout, norm_first=False)
        self.encoder = nn.TransformerEncoder(enc_layer, n_encoder_layers, norm=None, enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec_layer, n_decoder_layers, norm=None)
        self.dropout = nn.Dropout(dropout)
        self.head = ObjectAttentionHead(d_model, n_pointer_heads)
        self.reset_parameters()

    @classmethod
    def from_arch(cls, arch: OATArch, pe_table: Tensor) -> "OATModel":
        return cls(pe_table, **arch.net_kwargs())

    def reset_parameters(self) -> None:
        """Xavier-uniform on every parameter with more than one dimension (upstream init); the
        object-attention projections per 512×512 head (upstream's layers are separate)."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.head.reset_parameters()

    # ------------------------------------------------------------------ tokens
    def position_encoding(self, rows: Tensor, cols: Tensor, flag: Tensor) -> Tensor:
        """PE(r, c, f) = first 256 dims of [W[r]; W[c]; W[f]] — one vectorised gather."""
        r_pe = self.pe_table.shape[0]
        if int(rows.max()) >= r_pe or int(cols.max()) >= r_pe:
            raise ValueError(
                f"PE table has {r_pe} rows but the grid needs row/col index up to "
                f"{int(max(rows.max(), cols.max()))}; fit a larger table (R_pe ≥ max(R+1, C, 2))"
            )
        idx = torch.stack([rows, cols, flag.long()], dim=-1)  # (..., 3)
        pe = self.pe_table[idx].flatten(-2)  # (..., 3·86)
        return pe[..., : self.d_model // 2]

    def _check_inputs(self, x: OATInputs) -> None:
        if self.appearance == "embedding":
            if self.grid is not None and tuple(x.grid) != self.grid:
                raise ValueError(f"layout-only model was built for grid {self.grid}, batch has grid {x.grid}")
        elif x.crops is None:
            raise ValueError(
                "the CNN variant needs object crops (sample key 'crops'); for data without images "
                "use model.appearance=embedding (layout-only mode)"
            )

    def appearance_tables(self, x: OATInputs) -> tuple[Tensor, Tensor, Tensor]:
        """Appearance of every object ``(B, N, 256)``, of the target token ``(B, 256)`` and of the
        blank token (BOS/EOS/PAD) ``(256,)``."""
        self._check_inputs(x)
        b, n = x.batch_size, x.n_objects
        dev = x.target.device
        if self.appearance == "embedding":
            obj = self.embedding.weight[:n].unsqueeze(0).expand(b, n, -1)
            tgt = self.embedding(x.target)
            blank = self.embedding.weight[n]
            return obj, tgt, blank
        crops = x.crops
        assert crops is not None
        u = b if x.layout_index is None else int(crops.shape[0])
        if crops.shape[:2] != (u, n):
            raise ValueError(f"crops must be (B, N, 3, h, w) = ({u}, {n}, …), got {tuple(crops.shape)}")
        imgs = [crops.reshape(u * n, *crops.shape[2:])]
        if x.target_crop is not None:
            imgs.append(x.target_crop.reshape(b, *crops.shape[2:]))
        imgs.append(torch.ones(1, *crops.shape[2:], device=dev, dtype=crops.dtype))
        feats = self.cnn(torch.cat(imgs).to(self.pe_table.dtype))  # each layout's crops once
        obj = feats[: u * n].view(u, n, -1)
        if x.layout_index is not None:
            obj = obj[x.layout_index]
        if x.target_crop is not None:
            tgt = feats[u * n : u * n + b]
        else:
            tgt = obj[torch.arange(b, device=dev), x.target]
        return obj, tgt, feats[-1]

    def token_tables(self, x: OATInputs) -> tuple[Tensor, Tensor, Tensor]:
        """Encoder input ``(N+1, B, 512)``, decoder object-token table ``(B, N+2, 512)`` (rows 0..N-1
        objects with f = [is target], row N = EOS, row N+1 = PAD, both blank) and BOS ``(512,)``."""
        r, c = x.grid
        n = r * c
        b = x.batch_size
        dev = x.target.device
        obj_app, tgt_app, blank = self.appearance_tables(x)
        idx = torch.arange(n, device=dev)
        rows, cols = idx // c, idx % c
        pe_obj0 = self.position_encoding(rows, cols, torch.zeros_like(idx))  # (N, 256) f = 0
        pe_obj1 = self.position_encoding(rows, cols, torch.ones_like(idx))  # (N, 256) f = 1
        is_tgt = (idx[None, :] == x.target[:, None]).unsqueeze(-1)  # (B, N, 1)
        dec_pe = torch.where(is_tgt, pe_obj1, pe_obj0)  # f = [object is the target]
        if self.target_cue == "flag":
            # the target's object token is flagged; the target token (= EOS) keeps the target's position
            # but the blank appearance, so it never equals the target's object token
            enc_obj = torch.cat([obj_app, dec_pe], dim=-1)
            tgt_app = blank.expand(b, -1)
        else:
            enc_obj = torch.cat([obj_app, pe_obj0.unsqueeze(0).expand(b, n, -1)], dim=-1)
        pe_tgt = self.position_encoding(x.target // c, x.target % c, torch.ones_like(x.target))
        enc_tgt = torch.cat([tgt_app, pe_tgt], dim=-1)
        src = torch.cat([enc_obj, enc_tgt.unsqueeze(1)], dim=1).transpose(0, 1)  # (N+1, B, 512)

        dec_obj = torch.cat([obj_app, dec_pe], dim=-1)
        centre = torch.tensor([r // 2], device=dev), torch.tensor([c // 2], device=dev)
        pe_centre = self.position_encoding(centre[0], centre[1], torch.zeros(1, dtype=torch.long, device=dev))[0]
        bos = torch.cat([blank, pe_centre])
        # EOS / PAD decoder inputs: blank appearance at the BOS position (they are masked anyway).
        special = bos.expand(b, 2, -1)
        dec_table = torch.cat([dec_obj, special], dim=1)  # (B, N+2, 512)
        return src, dec_table, bos

    # ------------------------------------------------------------------ forward
    def encode(self, x: OATInputs) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the encoder once: memory ``(N+1, B, 512)``, pointer keys ``(B, 2, N+1, 512)``,
        decoder token table ``(B, N+2, 512)`` and BOS ``(512,)``. Trials sharing layout and target
        (``x.layout_index``) are encoded once and expanded."""
        xu, inv = x.unique_tasks()
        src, dec_table, bos = self.token_tables(xu)
        memory = self.encoder(src)
        keys = self.head.project_memory(memory)
        if inv is not None:
            memory, keys, dec_table = memory[:, inv], keys[inv], dec_table[inv]
        return memory, keys, dec_table, bos

    def embed_decoder_inputs(self, tokens: Tensor, dec_table: Tensor, bos: Tensor, start: int = 0) -> Tensor:
        """Decoder token ids ``(T, B)`` (objects, EOS, PAD or BOS = N+2) → ``(T, B, 512)`` with the 1-D
        sinusoidal PE of positions ``start..start+T-1`` and dropout."""
        t, b = tokens.shape
        n2 = dec_table.shape[1]
        is_bos = tokens == n2  # BOS id = N+2
        safe = tokens.clamp(max=n2 - 1)
        emb = torch.gather(dec_table, 1, safe.t().unsqueeze(-1).expand(b, t, dec_table.shape[-1])).transpose(0, 1)
        emb = torch.where(is_bos.unsqueeze(-1), bos.expand_as(emb), emb)
        emb = emb + self.pos_1d[start : start + t].unsqueeze(1)
        return self.dropout(emb)

    def forward(self, x: OATInputs, tgt_tokens: Tensor, tgt_padding_mask: Tensor | None = None) -> Tensor:
        """Teacher-forced pass. ``tgt_tokens`` ``(T, B)`` starts with BOS (= N+2); returns logits
        ``(T, B, N+2)``. ``tgt_padding_mask`` ``(B, T)`` is True on PAD inputs."""
        memory, mem_keys, dec_table, bos = self.encode(x)
        tgt = self.embed_decoder_inputs(tgt_tokens, dec_table, bos)
        t = tgt.shape[0]
        causal = torch.triu(torch.full((t, t), float("-inf"), device=tgt.device), diagonal=1)
        out = self.decoder(tgt, memory, tgt_mask=causal, tgt_key_padding_mask=_float_mask(tgt_padding_mask))
        return self.head(out, mem_keys)


def _float_mask(mask: Tensor | None) -> Tensor | None:
    """Bool padding mask → additive float mask (avoids the bool/float mask-mixing warning)."""
    if mask is None:
        return None
    return torch.zeros(mask.shape, device=mask.device).masked_fill(mask, float("-inf"))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the frozen PE table is a buffer and not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def teacher_forcing_tokens(objects: Tensor, lengths: Tensor, n_objects: int) -> tuple[Tensor, Tensor, Tensor]:
    """Human object sequences ``objects`` ``(B, L)`` (padding ignored) → decoder inputs ``(L+1, B)``
    (BOS, s_1..s_L, PAD…), targets ``(L+1, B)`` (s_1..s_L, EOS, PAD…) and the input padding mask
    ``(B, L+1)``."""
    b, l_max = objects.shape
    n = n_objects
    eos, pad, bos = n, n + 1, n + 2
    dev = objects.device
    t = torch.arange(l_max + 1, device=dev)
    seq = torch.full((b, l_max + 1), pad, dtype=torch.long, device=dev)
    valid = t[None, :l_max] < lengths[:, None]
    seq[:, :l_max] = torch.where(valid, objects.long(), torch.full_like(objects.long(), pad))
    targets = seq.clone()
    targets[torch.arange(b, device=dev), lengths] = eos
    inputs = torch.cat([torch.full((b, 1), bos, dtype=torch.long, device=dev), seq[:, :l_max]], dim=1)
    pad_mask = t[None, :] > lengths[:, None]  # positions after the last real input
    return inputs.t().contiguous(), targets.t().contiguous(), pad_mask
