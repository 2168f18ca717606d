"""NeVA trained mode as a plain torch module (docs/nevaclip.md §2.3): no Lightning, no batches.

:class:`NevaNet` holds the attention network and the frozen downstream model and does the math: the
downstream choice (reconstruction / classifier / CLIP), the training glimpse loop (one optimiser step
per glimpse, or the summed loss), the validation foveated loss and accuracy, fitting the small
classifier, and the prediction rollout. Tensors in, tensors out: images ``[B, 3, S, S]`` in [0, 1],
positions ``(row, col)`` in [−1, 1].
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import torch
from torch import nn

from scanpath.core import blur_levels, gaussian_mask, update_memory
from scanpath.models.neva.clip_factory import ClipBundle, build_clip
from scanpath.models.neva.params import NevaParams
from scanpath.models.neva.torch_model import (
    SimpleAttentionNet,
    SmallClassifier,
    cross_entropy_loss,
    foveated_accuracy,
    freeze,
    get_loss,
    glimpse_losses,
    grad_enabled,
)
from scanpath.utils.checkpoint_io import load_weights_into

log = logging.getLogger(__name__)


def valid_blur_k(k: int, size: int) -> int:
    """``k`` if its half-width fits the reflection padding of a ``size``-px image, else the largest odd k."""
    return k if k // 2 < size else 2 * (size // 2) - 1


class NevaNet(nn.Module):
    """Attention network + frozen downstream (the NeVA trained mode).

    ``classifier`` (downstream ``classifier``): any module; default a :class:`SmallClassifier` with
    ``params.num_classes`` outputs, fitted by :meth:`fit_classifier` unless ``params.classifier_ckpt``
    (a state dict, read with ``weights_only=True``) gives its weights.
    """

    def __init__(self, params: NevaParams, attention: nn.Module | None = None,
                 classifier: nn.Module | None = None) -> None:
        super().__init__()
        self.params = params
        self.attention = attention if attention is not None else SimpleAttentionNet()
        self.kind = params.downstream
        self.input_size = params.input_size
        self.classifier_fit_steps = params.classifier_fit_steps
        self.classifier: nn.Module | None = None
        self.clip_bundle: ClipBundle | None = None
        if self.kind == "classifier":
            if classifier is None:
                if params.num_classes is None:
                    raise ValueError("downstream=classifier needs num_classes (for the default SmallClassifier) "
                                     "or a classifier module")
                classifier = SmallClassifier(int(params.num_classes))
            if params.classifier_ckpt is not None:
                load_weights_into(classifier, params.classifier_ckpt, what="model.classifier_ckpt",
                                  prefix="net.classifier.")
                freeze(classifier)
                self.classifier_fit_steps = 0
            self.classifier = classifier
        elif self.kind == "clip":
            self.clip_bundle = build_clip(**dict(params.clip or {"pretrained": None}))
            self.input_size = self.clip_bundle.image_size
            self.register_buffer("clip_mean", torch.tensor(self.clip_bundle.mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("clip_std", torch.tensor(self.clip_bundle.std).view(1, 3, 1, 1), persistent=False)
            self.clip_visual = self.clip_bundle.visual

    # ------------------------------------------------------------------ downstream choice
    def downstream(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "reconstruction":
            return x
        if self.kind == "classifier":
            assert self.classifier is not None
            return self.classifier(x)
        return self.clip_visual((x - self.clip_mean) / self.clip_std)

    @torch.no_grad()
    def target(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """What the downstream output is compared to: the sharp image, the labels, or its CLIP embedding."""
        if self.kind == "reconstruction":
            return x
        if self.kind == "classifier":
            if labels is None:
                raise ValueError("downstream=classifier needs labels")
            return labels
        return self.downstream(x)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "reconstruction":
            return get_loss("mse")(out, target)
        if self.kind == "classifier":
            return cross_entropy_loss(out, target)
        return get_loss("cosine")(out, target)

    def blurred(self, x: torch.Tensor, k: int, sigma: float, noise: float = 0.0) -> torch.Tensor:
        return blur_levels(x, 1, valid_blur_k(k, x.shape[-1]), sigma, noise)[0]

    def freeze_downstream(self) -> None:
        if self.classifier is not None:
            freeze(self.classifier)
        if self.clip_bundle is not None:
            freeze(self.clip_visual)

    # ------------------------------------------------------------------ training
    def training_loss(self, x: torch.Tensor, labels: torch.Tensor | None,
                      step: Callable[[torch.Tensor], None]) -> torch.Tensor:
        """One training batch: the glimpse loop with ``step(loss)`` (zero_grad, backward, optimiser
        step) called per glimpse, or once on the summed loss (``step_per_glimpse=False``).
        Returns the mean per-glimpse loss (detached when summed)."""
        p = self.params
        blurred = self.blurred(x, p.blur_k, p.train_blur_sigma, p.noise)
        target = self.target(x, labels)
        losses, _ = glimpse_losses(
            self.attention, self.downstream, x, blurred, target, self.loss, p.n_glimpses,
            p.sigma_f, p.forgetting, step if p.step_per_glimpse else None,
        )
        if p.step_per_glimpse:
            return torch.stack(losses).mean()
        total = torch.stack(losses).sum()
        step(total)
        return total.detach() / len(losses)

    def fit_classifier(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], steps: int,
                       lr: float = 1e-3) -> float:
        """Fit the classifier on sharp, blurred and half-blurred images, then freeze it.

        ``batches`` yields ``(images, labels)`` and is iterated again until ``steps`` Adam steps are
        done. Returns the training accuracy of the last batch (sharp images)."""
        assert self.classifier is not None
        clf = self.classifier.train()
        for prm in clf.parameters():
            prm.requires_grad_(True)
        opt = torch.optim.Adam(clf.parameters(), lr=lr)
        k, s = self.params.val_blur_k, self.params.val_blur_sigma
        done, acc = 0, float("nan")
        with grad_enabled():
            while done < steps:
                for x, y in batches:
                    blurred = self.blurred(x, k, s)
                    xx = torch.cat([x, blurred, 0.5 * (x + blurred)])
                    logits = clf(xx)
                    loss = nn.functional.cross_entropy(logits, y.repeat(3))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    acc = float((logits[: len(y)].argmax(1) == y).float().mean())
                    done += 1
                    if done >= steps:
                        break
        freeze(clf)
        log.info("NeVA downstream classifier fitted for %d steps (last-batch train acc %.3f)", steps, acc)
        return acc

    # ------------------------------------------------------------------ validation
    def val_blur(self, x: torch.Tensor) -> tuple[int, float]:
        return valid_blur_k(self.params.val_blur_k, x.shape[-1]), self.params.val_blur_sigma

    @torch.no_grad()
    def foveated_loss(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Mean downstream loss over t = 1…T on x + (blur−x)·clip(1 − Σ g_s, 0, 1) (validation)."""
        k, sigma = self.val_blur(x)
        (blurred,) = blur_levels(x, 1, k, sigma)
        B, _, H, W = x.shape
        total = torch.zeros(B, H, W, device=x.device, dtype=x.dtype)
        if self.kind == "classifier" and labels is None:
            raise ValueError("foveated_loss with a classifier needs labels")
        target = labels if self.kind == "classifier" else (x if self.kind == "reconstruction" else self.downstream(x))
        vals = []
        for _ in range(self.params.n_glimpses_eval):
            p = self.attention(x + (blurred - x) * (1 - total).clamp(0, 1)[:, None])
            total = total + gaussian_mask(p.to(x.dtype), (H, W), self.params.val_sigma_f)
            out = self.downstream(x + (blurred - x) * (1 - total).clamp(0, 1)[:, None])
            vals.append(self.loss(out, target).mean())
        return torch.stack(vals).mean()

    @torch.no_grad()
    def foveated_accuracy(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Top-1 accuracy per glimpse ``[T]`` (upstream ``run_accuracy``; classifier downstream)."""
        k, sigma = self.val_blur(x)
        accs, _ = foveated_accuracy(self.attention, self.downstream, x, labels, self.params.n_glimpses_eval,
                                    self.params.val_sigma_f, k, sigma)
        return accs

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def rollout(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, 2]`` float64 fixations (row, col) clamped to [−1, 1]: the attention net on the
        image blurred outside the accumulated (forgetting) memory of its own glimpses."""
        p = self.params
        (blurred,) = blur_levels(x, 1, valid_blur_k(p.blur_k, x.shape[-1]), p.train_blur_sigma)
        B, _, H, W = x.shape
        memory = torch.zeros(B, H, W, device=x.device, dtype=x.dtype)
        fixes = []
        for _ in range(p.n_glimpses_eval):
            pos = self.attention(x + (blurred - x) * (1 - memory).clamp(0, 1)[:, None])
            fixes.append(pos.clamp(-1, 1))
            memory = update_memory(memory, pos, (H, W), p.forgetting, p.sigma_f)
        return torch.stack(fixes, 1).double()
