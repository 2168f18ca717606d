"""Qwen2.5-VL adapter for the 360° task (docs/humanoid360.md §2.3 item 3), through Hugging Face transformers.

``QwenVLPolicy`` keeps a chat in the Qwen format (``<|im_start|>role\n…<|im_end|>``; an image is
``<|vision_start|><|image_pad|>…<|vision_end|>`` with one pad per merged 2×2 patch), a configurable
HOS/HPS system prompt, and a window of the last 2·win − 1 messages (win = 5 for evaluation, 2 for
RL). Each ``act(observation)`` appends the view (+ the env feedback), generates a reply (greedy for
evaluation, temperature 0.7 / top-p 0.95 for RL) and returns the raw string; the environment parses
it (``<think>…</think><answer>rotate(a,b)|submit(a,b)</answer>``).

Weights load with ``from_pretrained`` (a Hub id such as ``humanoid-vstar/HVS-3B`` or a local path).
:func:`tiny_qwen_vl` builds a randomly initialised tiny model with an in-memory byte-level
vocabulary holding the Qwen special tokens and the think/answer tags (tests; no downloads).
``transformers`` is an optional dependency (extra ``vlm``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scanpath.models.humanoid360.agents import HeadAgent

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
           "<|video_pad|>"]
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]

# Our wording (not upstream's); same content as upstream prompt.py: signs, the green cross, the format
# and a worked example rotate(-45,0) → (315,0) → rotate(-30,-5) → submit(285,-5).
_COMMON = (
    "You stand inside a 360-degree panorama and see a 100-degree perspective view. Your heading is (yaw, pitch) in "
    "integer degrees: positive yaw turns right, negative yaw turns left; positive pitch looks up, negative looks down. "
    "The green cross marks the centre of your view. Actions: rotate(dyaw,dpitch) turns your head relative to the "
    "current heading; submit(yaw,pitch) answers with an absolute heading and ends the episode. Reply exactly as "
    "<think>your reasoning</think><answer>one action</answer>. Example: from (0,0) you reply rotate(-45,0) and face "
    "(315,0); you reply rotate(-30,-5) and face (285,-5); the target is at the cross, so you reply submit(285,-5)."
)
PROMPTS = {
    "HOS": "Task: find the object described by the instruction and submit the heading that centres it. " + _COMMON,
    "HPS": "Task: find the direction you should walk to follow the instruction and submit that heading (only yaw "
           "is judged). " + _COMMON,
}


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
    """Chat-format VLM agent: ``act(observation) -> reply string`` (see module docstring)."""

    def __init__(self, model: Any = None, tokenizer: Any = None, image_processor: Any = None, *,
                 pretrained: str | None = None, tiny: bool = False, task: str = "HOS", window: int = 5,
                 greedy: bool = True, temperature: float = 0.7, top_p: float = 0.95, max_new_tokens: int = 256,
                 view_hw: tuple[int, int] | None = None, prompts: dict[str, str] | None = None, device: str = "cpu",
                 seed: int = 0) -> None:
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
        self.task, self.window, self.greedy = task, int(window), bool(greedy)
        self.temperature, self.top_p, self.max_new_tokens = float(temperature), float(top_p), int(max_new_tokens)
        self.view_hw = tuple(view_hw) if view_hw is not None else None
        self.prompts = dict(PROMPTS, **(prompts or {}))
        self.display_name = "Qwen2.5-VL" + (" (tiny random)" if tiny else f" ({pretrained})" if pretrained else "")
        self.merge = int(getattr(image_processor, "merge_size", 2))
        self.reset()

    def reset(self, info: dict[str, Any] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.feedback = ""
        if info is not None:
            self.task = info.get("task", self.task)
            self.feedback = info.get("feedback", "")

    def observe_feedback(self, feedback: str) -> None:
        self.feedback = feedback

    def _image(self, img: np.ndarray) -> np.ndarray:
        if self.view_hw is None or tuple(img.shape[:2]) == self.view_hw:
            return img
        import cv2

        return cv2.resize(img, (self.view_hw[1], self.view_hw[0]), interpolation=cv2.INTER_AREA)

    def build_inputs(self) -> dict[str, torch.Tensor]:
        """Token ids + pixel values of the system prompt and the last 2·win − 1 messages."""
        msgs = self.messages[-(2 * self.window - 1):]
        images = [m["image"] for m in msgs if m["role"] == "user"]
        vis = self.image_processor(images=images, return_tensors="pt") if images else {}
        grids = vis["image_grid_thw"].tolist() if images else []
        parts = [f"<|im_start|>system\n{self.prompts[self.task]}<|im_end|>\n"]
        k = 0
        for m in msgs:
            if m["role"] == "user":
                n = int(np.prod(grids[k])) // (self.merge**2)
                k += 1
                parts.append("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * n + f"<|vision_end|>{m['text']}<|im_end|>\n")
            else:
                parts.append(f"<|im_start|>assistant\n{m['text']}<|im_end|>\n")
        parts.append("<|im_start|>assistant\n")
        enc = self.tokenizer("".join(parts), return_tensors="pt")
        out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if images:
            out.update(pixel_values=vis["pixel_values"], image_grid_thw=vis["image_grid_thw"])
        return {k: v.to(self.device) for k, v in out.items()}

    @torch.no_grad()
    def act(self, observation: dict[str, Any]) -> str:
        text = f"Instruction: {observation['instruction']}. Current direction (yaw,pitch) is ({int(observation['yaw'])},{int(observation['pitch'])})."
        if self.feedback:
            text = f"{self.feedback}. {text}"
        self.messages.append({"role": "user", "image": self._image(observation["image"]), "text": text})
        inputs = self.build_inputs()
        gen = dict(max_new_tokens=self.max_new_tokens, do_sample=not self.greedy)
        if not self.greedy:
            gen.update(temperature=self.temperature, top_p=self.top_p)
        out = self.model.generate(**inputs, **gen)
        reply = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        self.messages.append({"role": "assistant", "text": reply})
        self.feedback = ""
        return reply
