"""Prompt strings and token ids with per-frame image sentinels (upstream AuroraCap's formats).

The text placeholder ``<image>`` becomes the sentinel id -200 at tokenisation; the model later
replaces the i-th sentinel with the projected tokens of frame i.
"""

from __future__ import annotations

from collections.abc import Sequence

from vdc_bench.errors import VdcBenchError

IMAGE_PLACEHOLDER = "<image>"
IMAGE_TOKEN_INDEX = -200

# LLaVA ``conv_vicuna_v1`` as used by the lmms-eval AuroraCap wrapper (sep " ", the system prompt verbatim).
VICUNA_V1_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
CONV_TEMPLATES = {
    # variant 2: lmms-eval wrapper, default, comparable with published lmms-eval numbers
    "vicuna_v1": VICUNA_V1_SYSTEM + " USER: {message} ASSISTANT:",
    # variant 1: AuroraCap inference.py / gradio (xtuner vicuna INSTRUCTION, no system prompt)
    "plain": "USER: {message} ASSISTANT:",
}


class PromptError(VdcBenchError):
    """The task context cannot be matched with the visuals (reported per sample)."""


def frame_placeholders(num_frames: int) -> str:
    return " ".join([IMAGE_PLACEHOLDER] * num_frames)


def build_prompt(
    context: str, frames_per_visual: Sequence[int], conv_template: str, image_placement: str = "upstream"
) -> str:
    """The chat string for one request.

    Text-only requests keep ``context`` as is. Without ``<image>`` in ``context`` the block of all frames'
    placeholders plus a newline is prepended (as upstream). A context that already holds ``<image>``:

    * ``upstream``: kept as is; the i-th ``<image>`` receives frame i (across visuals, in order), later
      frames are not used, as in the lmms-eval wrapper; more placeholders than frames is an error;
    * ``per_visual``: one ``<image>`` per visual, each widened to that visual's frame placeholders.
    """
    if conv_template not in CONV_TEMPLATES:
        raise VdcBenchError(f"conv_template must be one of {sorted(CONV_TEMPLATES)}, got {conv_template!r}")
    found = context.count(IMAGE_PLACEHOLDER)
    if found == 0 and not frames_per_visual:
        message = context
    elif found == 0:
        message = frame_placeholders(sum(frames_per_visual)) + "\n" + context
    elif image_placement == "upstream":
        if found > sum(frames_per_visual):
            raise PromptError(
                f"the prompt has {found} {IMAGE_PLACEHOLDER} placeholders for {sum(frames_per_visual)} frames"
            )
        message = context
    elif found == len(frames_per_visual):
        parts = context.split(IMAGE_PLACEHOLDER)
        message = parts[0] + "".join(
            frame_placeholders(n) + part for n, part in zip(frames_per_visual, parts[1:], strict=True)
        )
    else:
        raise PromptError(f"the prompt has {found} {IMAGE_PLACEHOLDER} placeholders for {len(frames_per_visual)} visuals")
    return CONV_TEMPLATES[conv_template].format(message=message)


def tokenize_with_sentinels(tokenizer, prompt: str) -> list[int]:
    """Split on ``<image>``: first chunk with BOS, later chunks without special tokens, -200 in between."""
    chunks = prompt.split(IMAGE_PLACEHOLDER)
    ids = list(tokenizer(chunks[0], add_special_tokens=True).input_ids)
    for chunk in chunks[1:]:
        ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(tokenizer(chunk, add_special_tokens=False).input_ids)
    return ids
