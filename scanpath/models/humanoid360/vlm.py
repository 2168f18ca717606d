"""Qwen2.5-VL adapter for the 360° task (docs/humanoid360.md §2.3 item 3), through Hugging Face transformers.

``QwenVLPolicy`` keeps a chat in the Qwen format (``<|im_start|>role\n…<|im_end|>``; an image is
``<|vision_start|><|image_pad|>…<|vision_end|>`` with one pad per merged 2×2 patch), a configurable
HOS/HPS system prompt, and a window of the last 2·win − 1 messages (win = 5 for evaluation, 2 for
RL). Prompts come from :mod:`.prompts`: our wording by default, or upstream H*'s templates read from a
local checkout (``prompts.upstream_repo``); reply formats ``free_think`` / ``no_think`` / ``grounding``.
Each ``act(observation)`` appends the view in the first-observation template (no heading) or the
per-turn template (the env feedback: the heading after a valid action, only "not executed" after an
invalid one), generates a reply (greedy, up to 1024 new tokens, as upstream evaluation; temperature 0.7 /
top-p 0.95 for RL) and returns it as a :class:`~scanpath.envs.actions.Reply` for the environment's parser.

Weights load with ``from_pretrained`` (a Hub id such as ``humanoid-vstar/HVS-3B`` or a local path).
:func:`tiny_qwen_vl` builds a randomly initialised tiny model with an in-memory byte-level
vocabulary holding the Qwen special tokens and the think/answer tags (tests; no downloads).
``transformers`` is an optional dependency (extra ``vlm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from scanpath.envs.actions import REPLY_FORMATS, Reply, Rotate, action_string, parse_reply_full
from scanpath.models.humanoid360.agents import HeadAgent
from scanpath.models.humanoid360.prompts import IMAGE, PromptSet, make_prompts

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
           "<|video_pad|>"]
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
#: sampling temperature of RL rollouts (greedy=false with temperature 0)
RL_TEMPERATURE = 0.7


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the VLM adapter needs transformers: pip install 'scanpath[vlm]'") from e
    return transformers


def tiny_qwen_vl(seed: int = 0) -> tuple[Any, Any, Any]:
    """(model, tokenizer, image_processor): a random tiny Qwen2.5-VL (text 64 hidden, 2 layers, 4 heads,
    mrope [2, 3, 3]; vision depth 2, hidden 32, out 64) with an in-memory byte-level vocabulary."""
    tf = _require_transformers()
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True) for s in SPECIAL])
    tok.add_tokens([AddedToken(s, special=False) for s in TAGS])
    tokenizer = tf.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in SPECIAL}
    cfg = tf.Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                         bos_token_id=ids["<|endoftext|>"]),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           fullatt_block_indexes=[1], window_size=112),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = tf.Qwen2_5_VLForConditionalGeneration(cfg).eval()
    image_processor = tf.Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2,
                                               temporal_patch_size=2)
    return model, tokenizer, image_processor


class QwenVLPolicy(HeadAgent):
    """Chat-format VLM agent: ``act(observation) -> reply string`` (see module docstring).

    ``prompts``: ``{"upstream_repo": path | None, "format": "free_think" | "no_think" | "grounding",
    "HOS"/"HPS": our system prompt overridden per task}`` (:mod:`.prompts`), or a PromptSet object.
    ``parser``: ``head`` (upstream HEAD: answer extracted without ``<think>``, format only decides the format
    reward) or ``strict`` (paper-era); the reply is returned as a :class:`~scanpath.envs.actions.Reply`
    carrying both, so the environment parses it accordingly. Decoding is greedy when ``greedy`` or
    ``temperature == 0`` (upstream evaluation: temperature 0, ``max_new_tokens`` 1024).
    ``resolution``: the view height the agent is evaluated at (upstream evaluation configs: 1080, i.e.
    1920 x 1080 views); see :func:`~scanpath.models.humanoid360.agents.preferred_resolution`.
    """

    def __init__(self, model: Any = None, tokenizer: Any = None, image_processor: Any = None, *,
                 pretrained: str | None = None, tiny: bool = False, task: str = "HOS", window: int = 5,
                 greedy: bool | None = None, temperature: float = 0.0, top_p: float = 0.95, max_new_tokens: int = 1024,
                 view_hw: tuple[int, int] | None = None, prompts: Mapping[str, Any] | PromptSet | None = None,
                 parser: str = "head", resolution: int | None = 1080, device: str = "cpu", seed: int = 0) -> None:
        tf = _require_transformers()
        if tiny:
            model, tokenizer, image_processor = tiny_qwen_vl(seed)
        elif model is None:
            if not pretrained:
                raise ValueError("QwenVLPolicy needs model objects, pretrained=<hub id or path>, or tiny=True")
            model = tf.Qwen2_5_VLForConditionalGeneration.from_pretrained(pretrained).eval()
            proc = tf.AutoProcessor.from_pretrained(pretrained)
            tokenizer, image_processor = proc.tokenizer, proc.image_processor
        self.model, self.tokenizer, self.image_processor = model.to(device), tokenizer, image_processor
        self.device = torch.device(device)
        self.task, self.window = task, int(window)
        self.temperature, self.top_p, self.max_new_tokens = float(temperature), float(top_p), int(max_new_tokens)
        self.greedy = (self.temperature == 0.0) if greedy is None else bool(greedy)
        if not self.greedy and self.temperature <= 0.0:
            self.temperature = RL_TEMPERATURE  # sampling without a temperature: the RL setting (docs/humanoid360.md §2.3)
        self.view_hw = tuple(view_hw) if view_hw is not None else None
        if parser not in ("head", "strict"):
            raise ValueError(f"parser must be 'head' (upstream HEAD) or 'strict' (paper era), got {parser!r}")
        self.strict = parser == "strict"
        self.resolution = None if resolution is None else int(resolution)
        if prompts is not None and hasattr(prompts, "first_observation"):
            self.prompts: PromptSet = prompts  # type: ignore[assignment]
            self.format = "free_think"
        else:
            cfg = dict(prompts or {})
            self.format = str(cfg.pop("format", None) or "free_think")
            if self.format not in REPLY_FORMATS:
                raise ValueError(f"model.prompts.format must be one of {', '.join(REPLY_FORMATS)}, got {self.format!r}")
            repo = cfg.pop("upstream_repo", None)
            system = {k: v for k, v in cfg.items() if v is not None}
            unknown = set(system) - {"HOS", "HPS"}
            if unknown:
                raise ValueError(f"unknown model.prompts keys {sorted(unknown)} (known: upstream_repo, format, HOS, HPS)")
            self.prompts = make_prompts(repo, system)
        self.display_name = "Qwen2.5-VL" + (" (tiny random)" if tiny else f" ({pretrained})" if pretrained else "")
        self.merge = int(getattr(image_processor, "merge_size", 2))
        self.reset()

    def reset(self, info: dict[str, Any] | None = None) -> None:
        """New episode: empty chat; the task (HOS/HPS) from the env's info. The env's reset feedback is not
        used: the first observation never states the heading."""
        self.messages: list[dict[str, Any]] = []
        self.feedback = ""
        self.valid_action: list[str] = []
        if info is not None:
            self.task = info.get("task", self.task)

    def observe_feedback(self, feedback: str) -> None:
        self.feedback = feedback

    def _image(self, img: np.ndarray) -> np.ndarray:
        if self.view_hw is None or tuple(img.shape[:2]) == self.view_hw:
            return img
        import cv2

        return cv2.resize(img, (self.view_hw[1], self.view_hw[0]), interpolation=cv2.INTER_AREA)

    def system_prompt(self) -> str:
        return self.prompts.system(self.task, self.format)

    def user_text(self, instruction: str) -> str:
        """The next user message (with :data:`~.prompts.IMAGE` where the view goes): the first-observation
        template on the first turn, else the per-turn template with the last feedback and valid action."""
        if not self.messages:
            return self.prompts.first_observation(instruction, self.format)
        return self.prompts.turn(instruction, self.feedback, self.valid_action, self.format)

    def build_inputs(self) -> dict[str, torch.Tensor]:
        """Token ids + pixel values of the system prompt and the last 2·win − 1 messages."""
        msgs = self.messages[-(2 * self.window - 1):]
        images = [m["image"] for m in msgs if m["role"] == "user"]
        vis = self.image_processor(images=images, return_tensors="pt") if images else {}
        grids = vis["image_grid_thw"].tolist() if images else []
        parts = [f"<|im_start|>system\n{self.system_prompt()}<|im_end|>\n"]
        k = 0
        for m in msgs:
            if m["role"] == "user":
                n = int(np.prod(grids[k])) // (self.merge**2)
                k += 1
                vision = "<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>"
                text = m["text"]
                text = text.replace(IMAGE, vision, 1) if IMAGE in text else vision + text
                parts.append(f"<|im_start|>user\n{text}<|im_end|>\n")
            else:
                parts.append(f"<|im_start|>assistant\n{m['text']}<|im_end|>\n")
        parts.append("<|im_start|>assistant\n")
        enc = self.tokenizer("".join(parts), return_tensors="pt")
        out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if images:
            out.update(pixel_values=vis["pixel_values"], image_grid_thw=vis["image_grid_thw"])
        return {k: v.to(self.device) for k, v in out.items()}

    def generation_kwargs(self) -> dict[str, Any]:
        """``generate`` arguments: greedy (upstream evaluation) or temperature / top-p sampling (RL)."""
        gen: dict[str, Any] = dict(max_new_tokens=self.max_new_tokens, do_sample=not self.greedy)
        if not self.greedy:
            gen.update(temperature=self.temperature, top_p=self.top_p)
        return gen

    @torch.no_grad()
    def act(self, observation: dict[str, Any]) -> Reply:
        text = self.user_text(str(observation["instruction"]))
        self.messages.append({"role": "user", "image": self._image(observation["image"]), "text": text})
        inputs = self.build_inputs()
        out = self.model.generate(**inputs, **self.generation_kwargs())
        reply = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        self.messages.append({"role": "assistant", "text": reply})
        act = parse_reply_full(reply, self.format, self.strict).action  # what the env will execute
        self.valid_action = [action_string(act)] if isinstance(act, Rotate) else []
        self.feedback = ""
        return Reply(reply, format=self.format, strict=self.strict)
