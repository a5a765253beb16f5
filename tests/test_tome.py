"""Token Merging: vectorised implementation vs. a straightforward loop reference, r schedule, token counts."""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPVisionConfig
from triton_interpreter import run_interpreted

from vdc_bench.models.auroracap.merge_schedule import merge_r, tokens_per_frame
from vdc_bench.models.auroracap.tome import merge_step
from vdc_bench.models.auroracap.vision_tower import AuroraVisionTower


def reference_merge(x, size, metric, r, protect_cls):
    """One frame, plain Python, written from the prose of the ToMe paper."""
    t = len(x)
    r = min(r, (t - (1 if protect_cls else 0)) // 2)
    if r <= 0:
        return x.clone(), size.clone()
    unit = [m / m.norm() for m in metric]
    a_pos, b_pos = list(range(0, t, 2)), list(range(1, t, 2))
    best = []  # (score, a position, destination b position)
    for a in a_pos:
        if protect_cls and a == 0:
            best.append((float("-inf"), a, b_pos[0]))
            continue
        scores = [float(unit[a] @ unit[b]) for b in b_pos]
        j = max(range(len(b_pos)), key=lambda k: scores[k])  # first maximum, like torch.max
        best.append((scores[j], a, b_pos[j]))
    ranked = sorted(best, key=lambda e: -e[0])
    sources, kept = ranked[:r], sorted(e[1] for e in ranked[r:])
    acc = {b: (x[b] * size[b], size[b].clone()) for b in b_pos}
    for _, a, b in sources:
        feat, sz = acc[b]
        acc[b] = (feat + x[a] * size[a], sz + size[a])
    out_x = [x[a] for a in kept] + [acc[b][0] / acc[b][1] for b in b_pos]
    out_s = [size[a] for a in kept] + [acc[b][1] for b in b_pos]
    return torch.stack(out_x), torch.stack(out_s)


@pytest.mark.parametrize("protect_cls", [True, False])
@pytest.mark.parametrize("r", [0, 1, 3, 7, 12, 40])
def test_merge_step_matches_loop_reference(protect_cls, r):
    gen = torch.Generator().manual_seed(r + 100 * protect_cls)
    frames, t, dim = 3, 25, 16
    x = torch.randn(frames, t, dim, generator=gen, dtype=torch.float64)
    metric = torch.randn(frames, t, 8, generator=gen, dtype=torch.float64)
    size = torch.randint(1, 4, (frames, t, 1), generator=gen).double()
    got_x, got_s = merge_step(x, size, metric, r, protect_cls=protect_cls)
    for f in range(frames):
        ref_x, ref_s = reference_merge(x[f], size[f], metric[f], r, protect_cls)
        assert got_x[f].shape == ref_x.shape
        torch.testing.assert_close(got_s[f], ref_s)
        torch.testing.assert_close(got_x[f], ref_x)
    if protect_cls:
        torch.testing.assert_close(got_x[:, 0], x[:, 0])  # CLS untouched and first


def test_merge_step_repeated_like_the_encoder():
    """Several consecutive steps (sizes compound) still agree with the reference, frame by frame."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 50, 12, generator=gen, dtype=torch.float64)
    size = torch.ones(2, 50, 1, dtype=torch.float64)
    ref = [(x[f], size[f]) for f in range(2)]
    for _ in range(5):
        metric = torch.randn(2, x.shape[1], 6, generator=gen, dtype=torch.float64)
        new_ref = [reference_merge(rx, rs, metric[f], 4, True) for f, (rx, rs) in enumerate(ref)]
        x, size = merge_step(x, size, metric, 4)
        ref = new_ref
        for f in range(2):
            torch.testing.assert_close(x[f], ref[f][0])
            torch.testing.assert_close(size[f], ref[f][1])
    assert x.shape[1] == 50 - 5 * 4
    assert float(size.sum()) == 2 * 50  # every patch is counted exactly once


def test_merge_step_ties_follow_a_stable_sort():
    """Identical tokens (flat image regions, padded frames) tie exactly: lower index first, like the reference."""
    gen = torch.Generator().manual_seed(3)
    # Scaled axis vectors: every cosine is exactly 0 or ±1 in any summation order, so ties are exact.
    base = torch.tensor([[2.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, -1.0, 0], [0, 0, 0, 5.0]], dtype=torch.float64)
    metric = base[torch.tensor([0, 1, 2, 1, 2, 1, 2, 3, 1, 2, 0, 1, 3, 3, 2, 1, 0, 2, 1])].unsqueeze(0)
    x = torch.randn(1, 19, 5, generator=gen, dtype=torch.float64)
    size = torch.randint(1, 3, (1, 19, 1), generator=gen).double()
    for r in (1, 4, 6, 9):
        got_x, got_s = merge_step(x, size, metric, r)
        ref_x, ref_s = reference_merge(x[0], size[0], metric[0], r, True)
        torch.testing.assert_close(got_s[0], ref_s)
        torch.testing.assert_close(got_x[0], ref_x)


def test_unmerged_tokens_pass_through_bit_exact():
    """Tokens that take part in no merge come out with exactly their input bits (weight exactly 1)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 41, 32, generator=gen)
    size = torch.randint(1, 5, (2, 41, 1), generator=gen).float()
    metric = torch.randn(2, 41, 8, generator=gen)
    got_x, got_s = merge_step(x, size, metric, 6)
    untouched = 0
    for f in range(2):
        rows = {tuple(v.tolist()) for v in got_x[f]}
        for i in range(41):
            if tuple(x[f, i].tolist()) in rows:
                untouched += 1
    assert untouched >= 2 * (41 - 2 * 6)  # at least every token outside the merged pairs, bit for bit


# Tokens per frame by ratio, as published for AuroraCap.
TABLE = {0.01: (22, 47), 0.05: (21, 78), 0.1: (20, 109), 0.15: (19, 140), 0.2: (18, 171), 0.3: (15, 264),
         0.4: (13, 326), 0.5: (11, 388), 0.6: (9, 450), 0.7: (6, 543), 0.8: (4, 605), 0.9: (2, 667), 1.0: (0, 729)}


@pytest.mark.parametrize("ratio", sorted(TABLE))
def test_r_schedule_and_formula(ratio):
    r, n_f = TABLE[ratio]
    assert merge_r(378, 378, 14, 32, ratio) == r
    assert tokens_per_frame(729, 31, r) == n_f == 729 - 31 * r


@pytest.mark.slow  # minutes of CPU work at the full 378 px / 32-block geometry
def test_vision_tower_token_counts_real_geometry():
    """378 px, patch 14, 32 blocks (tiny width): measured tokens per frame = 729 - 31 r for every ratio."""
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=32,
                              image_size=378, patch_size=14)
    tower = AuroraVisionTower(config).eval()
    pixels = torch.randn(1, 3, 378, 378)
    with torch.inference_mode():
        for ratio, (_, n_f) in TABLE.items():
            assert tower(pixels, ratio).shape == (1, n_f, 16), ratio


def test_proportional_attention_is_opt_in():
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=4,
                              image_size=56, patch_size=14)
    plain = AuroraVisionTower(config).eval()
    proportional = AuroraVisionTower(config, proportional_attention=True).eval()
    proportional.load_state_dict(plain.state_dict())
    pixels = torch.randn(1, 3, 56, 56)
    with torch.inference_mode():
        torch.testing.assert_close(plain(pixels, 1.0), proportional(pixels, 1.0))  # all sizes 1: log 1 = 0
        assert not torch.allclose(plain(pixels, 0.3), proportional(pixels, 0.3))


def test_sdpa_and_eager_agree():
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=4,
                              image_size=56, patch_size=14)
    sdpa = AuroraVisionTower(config).eval()
    eager = AuroraVisionTower(config, attn_implementation="eager").eval()
    eager.load_state_dict(sdpa.state_dict())
    pixels = torch.randn(2, 3, 56, 56)
    with torch.inference_mode():
        torch.testing.assert_close(sdpa(pixels, 0.5), eager(pixels, 0.5), atol=1e-5, rtol=1e-4)


_TRITON_CHECK = """
import torch
from vdc_bench.models.auroracap.merge_triton import merge_triton
from vdc_bench.models.auroracap.tome import match, merge_matrix

torch.manual_seed(0)
cases = [(730, 18, True), (717, 13, True), (172, 18, True), (41, 6, True), (19, 9, True), (40, 20, False),
         (33, 16, False)]
for dtype in (torch.float16, torch.float32):
    for t, r, protect in cases:
        metric = torch.randn(3, t, 80).to(dtype)
        if t in (41, 40):  # one-hot keys: exact cosine ties everywhere
            metric = torch.eye(80)[torch.randint(0, 3, (3, t))].to(dtype)
        size = torch.randint(1, 5, (3, t, 1)).to(dtype)
        x = torch.randn(3, t, 300).to(dtype)
        score, dst = match(metric, protect)
        weights, want_size = merge_matrix(score, dst, size, r)
        got_x, got_size = merge_triton(x, size, score, dst, r)
        assert torch.equal(want_size, got_size), (dtype, t, r, protect)
        want_x = (weights.double() @ x.double()).to(dtype)
        single = (weights != 0).sum(-1) == 1  # rows that merge nothing: copied bit for bit
        assert torch.equal(got_x[single], want_x[single]), (dtype, t, r, protect)
        assert int((~single).sum()) > 0
        torch.testing.assert_close(got_x, want_x, atol=2e-3 if dtype == torch.float16 else 1e-6, rtol=1e-3)
print("identical")
"""


@pytest.mark.slow  # minutes in Triton's CPU interpreter
def test_triton_merge_matches_torch():
    """The CUDA kernels' logic, run by Triton's CPU interpreter: the torch merge's sizes and rows (ties included)."""
    assert "identical" in run_interpreted(_TRITON_CHECK)
