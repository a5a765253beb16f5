"""Names and defaults of the AuroraCap model args that code outside the adapter needs, without torch.

``vdc-bench caption`` takes its defaults from here and the sweep recognises every spelling of
``token_kept_ratio`` here; settings.py builds the adapter's settings on the same values.
"""

# Spellings used by the upstream AuroraCap lmms-eval wrapper and its docs.
ALIASES = {"token_merge_ratio": "token_kept_ratio", "max_frames_num": "num_frm", "slow_fast": "slowfast"}
DEFAULT_TOKEN_KEPT_RATIO = 0.4
DEFAULT_NUM_FRM = 16
# the static decoder at batch 1: its torch layer functions, or decode_gemv.py's fused Triton kernels; auto = fused
# on CUDA, torch elsewhere
BATCH1_KERNELS = ("auto", "torch", "fused")


def canonical_name(name: str) -> str:
    """The adapter's name for a model arg given under any of its spellings."""
    return ALIASES.get(name, name)
