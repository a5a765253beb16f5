"""Mutation check: each known kind of model bug, injected into a copy of the model code, must make the
equivalence tests (test_model_faithful.py) or the upstream-semantics tests (test_model_semantics.py) fail.

For every mutant: copy ``models/`` to a temporary folder, apply the edit (each edit must match exactly
once, so a refactor that silently defuses a mutant is an error here), point ``vdc_bench.models`` at the
copy and run the relevant tests in this process with ``-x``. The unmutated copy must pass first.
Exit status 0 only when every mutant was caught. Run: ``python tests/mutation_check.py [-k NAME]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAITHFUL = REPO / "tests" / "test_model_faithful.py"
SEMANTICS = REPO / "tests" / "test_model_semantics.py"  # upstream generation/prompt/frame semantics
TOWER = "tower_matches"  # block-by-block vs the plain-loop ToMe reference
LOGITS = "logits_match"  # float64 logits vs transformers' LLaVA, ragged left-padded batch
CAPTIONS = "captions_match"  # float32 greedy captions through the captioner vs LLaVA.generate


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # under models/auroracap/
    edits: tuple[tuple[str, str], ...]  # (exact old text, new text)
    tests: str  # pytest -k expression
    test_file: Path = FAITHFUL


MUTANTS = (
    Mutant("no merging", "tome.py", (("    if r <= 0:\n        return x, size", "    if True:\n        return x, size"),), TOWER),
    Mutant("swapped LayerNorms", "vision_tower.py", (
        ("self.self_attn(self.layer_norm1(x)", "self.self_attn(self.layer_norm2(x)"),
        ("self.mlp(self.layer_norm2(x))", "self.mlp(self.layer_norm1(x))"),
    ), TOWER),
    Mutant("dropped q/k/v biases", "vision_tower.py", (
        ("q = self.q_proj(x)", "q = F.linear(x, self.q_proj.weight)"),
        ("k = self.k_proj(x)", "k = F.linear(x, self.k_proj.weight)"),
        ("v = self.v_proj(x)", "v = F.linear(x, self.v_proj.weight)"),
    ), TOWER),
    Mutant("dropped k bias only", "vision_tower.py", (("k = self.k_proj(x)", "k = F.linear(x, self.k_proj.weight)"),), TOWER),
    Mutant("attention scale 1", "vision_tower.py", (("self.scale = self.head_dim**-0.5", "self.scale = 1.0"),), TOWER),
    Mutant("tanh-GELU in projector", "projector.py", (("nn.GELU()", 'nn.GELU(approximate="tanh")'),), LOGITS),
    Mutant("wrong feature layer (-1)", "vision_tower.py", (
        ("self.num_blocks = config.num_hidden_layers + 1 + feature_layer",
         "self.num_blocks = config.num_hidden_layers + 2 + feature_layer"),
    ), TOWER),
    Mutant("skipped pre-LayerNorm", "vision_tower.py", (
        ("x = vm.pre_layrnorm(vm.embeddings(pixel_values, interpolate_pos_encoding=interpolate))",
         "x = vm.embeddings(pixel_values, interpolate_pos_encoding=interpolate)"),
    ), TOWER),
    Mutant("reversed frames", "modeling.py", (
        ("for cut, frame in zip(cuts, frames, strict=True):", "for cut, frame in zip(cuts, frames[::-1], strict=True):"),
    ), LOGITS),
    Mutant("metric = queries, not keys", "vision_tower.py", (("return out, k.mean(dim=1)", "return out, q.mean(dim=1)"),), TOWER),
    Mutant("CLS not protected", "vision_tower.py", (("metric, r, protect_cls=True)", "metric, r, protect_cls=False)"),), TOWER),
    Mutant("unweighted merge (sizes ignored)", "vision_tower.py", (
        ("x, size = merge_step(x, size, metric,", "x, size = merge_step(x, torch.ones_like(size), metric,"),
    ), TOWER),
    Mutant("merge after the MLP", "vision_tower.py", (
        ("        x, size = merge_step(x, size, metric, r, protect_cls=True)\n"
         "        x = x + self.mlp(self.layer_norm2(x))\n",
         "        x = x + self.mlp(self.layer_norm2(x))\n"
         "        x, size = merge_step(x, size, metric, r, protect_cls=True)\n"),
    ), TOWER),
    Mutant("r from the blocks run, not all blocks", "vision_tower.py", (
        ("self.config.patch_size, self.config.num_hidden_layers, token_kept_ratio)",
         "self.config.patch_size, self.num_blocks, token_kept_ratio)"),
    ), TOWER),
    Mutant("least similar tokens merged", "tome.py", (
        ("return torch.where(earlier, s_j >= s_i, s_j > s_i).sum(-1)", "return torch.where(earlier, s_j <= s_i, s_j < s_i).sum(-1)"),
    ), TOWER),
    Mutant("B tokens first in the output order", "tome.py", (
        ("a_row = torch.where(is_src, dst + kept_a, idx - is_src.cumsum(-1))",
         "a_row = torch.where(is_src, dst, idx - is_src.cumsum(-1) + t // 2)"),
        ("row[:, 1::2, 0] = torch.arange(kept_a, kept_a + t // 2, device=score.device)",
         "row[:, 1::2, 0] = torch.arange(0, t // 2, device=score.device)"),
    ), TOWER),
    Mutant("proportional attention always on", "vision_tower.py", (
        ("if proportional_attention else None", "if True else None"),
    ), TOWER),
    Mutant("cosine without normalisation", "tome.py", (
        ("unit = metric / metric.norm(dim=-1, keepdim=True)", "unit = metric"),
    ), TOWER),
    Mutant("CLS kept in the features", "vision_tower.py", (("        return x[:, 1:]\n", "        return x[:, :-1]\n"),), TOWER),
    Mutant("projector first bias dropped", "projector.py", (
        ("return self.model(features)", "return self.model[2](self.model[1](features @ self.model[0].weight.T))"),
    ), LOGITS),
    Mutant("right padding", "modeling.py", (
        ("inputs_embeds[row, longest - seq.shape[0] :] = seq", "inputs_embeds[row, : seq.shape[0]] = seq"),
        ("attention_mask[row, longest - seq.shape[0] :] = 1", "attention_mask[row, : seq.shape[0]] = 1"),
    ), CAPTIONS),
    Mutant("padding attended", "modeling.py", (
        ("attention_mask = torch.zeros((len(sequences), longest)", "attention_mask = torch.ones((len(sequences), longest)"),
    ), LOGITS),
    Mutant("no BOS", "prompting.py", (
        ("ids = list(tokenizer(chunks[0], add_special_tokens=True).input_ids)",
         "ids = list(tokenizer(chunks[0], add_special_tokens=False).input_ids)"),
    ), LOGITS),
    Mutant("frame tokens spliced one place late", "modeling.py", (
        ("pieces += [text[start:cut], frame.to(text.dtype)]", "pieces += [text[start:cut + 1], frame.to(text.dtype)]"),
        ("start = cut + 1\n", "start = cut + 2\n"),
    ), LOGITS),
    # upstream semantics (defaults of the auroracap model args)
    Mutant("until applied by default", "settings.py", (
        ('stop_strings: str = "ignore"', 'stop_strings: str = "apply"'),
    ), "stop_strings", SEMANTICS),
    Mutant("do_sample honoured by default", "settings.py", (
        ('if self.sample_rule == "temperature":', "if False:"),
    ), "sampling", SEMANTICS),
    Mutant("num_frm=1 gives one frame", "captioner.py", (
        ('append_last = self.settings.frame_sampling == "upstream"', "append_last = False"),
    ), "one_frame", SEMANTICS),
    Mutant("generation_config.json ignored", "captioner.py", (
        ("config = self.files.generation_config() if self.settings.generation_config else None", "config = None"),
    ), "generation_config", SEMANTICS),
    Mutant("<image> widened to every frame", "captioner.py", (
        ("self.settings.conv_template, self.settings.image_placement", 'self.settings.conv_template, "per_visual"'),
    ), "image_placement", SEMANTICS),
    Mutant("pos_emb refused", "checkpoint.py", (
        ('alias = vision.pop("vision_model.pos_emb", None)', "alias = None"),
    ), "pos_emb", SEMANTICS),
)


def mutate(root: Path, mutant: Mutant) -> None:
    path = root / "auroracap" / mutant.file
    text = path.read_text()
    for old, new in mutant.edits:
        count = text.count(old)
        if count != 1:
            raise SystemExit(f"mutant {mutant.name!r}: {mutant.file} holds {count} copies of {old!r} (needs exactly 1)")
        text = text.replace(old, new)
    path.write_text(text)


def run_tests(models_copy: Path, files: list[Path], select: str | None) -> tuple[int, str]:
    """pytest in this process against ``models_copy``; model and test modules it imported are dropped afterwards."""
    import pytest

    import vdc_bench.models as models_pkg

    before = set(sys.modules)
    original_path = list(models_pkg.__path__)
    models_pkg.__path__[:] = [str(models_copy)]
    try:
        args = [*map(str, files), "-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore"]
        if select:
            args += ["-k", select]
        code = int(pytest.main(args))
        loaded = getattr(sys.modules.get("vdc_bench.models.auroracap.modeling"), "__file__", "") or ""
        if not loaded.startswith(str(models_copy)):
            raise SystemExit(f"the tests imported {loaded or 'no model code'}, not the copy in {models_copy}")
    finally:
        models_pkg.__path__[:] = original_path
        for name in set(sys.modules) - before:  # model code and test modules; third-party imports stay
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if name.startswith("vdc_bench.models.") or module_file.startswith(str(REPO / "tests")):
                del sys.modules[name]
    return code, loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="only", help="run only mutants whose name contains this text")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    import torch  # noqa: F401  (imported once, outside the per-run module cleanup)
    import transformers  # noqa: F401

    mutants = [m for m in MUTANTS if not args.only or args.only in m.name]
    survivors, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vdc_mutants_") as tmp:
        baseline = Path(tmp) / "baseline" / "models"
        shutil.copytree(REPO / "models", baseline, ignore=shutil.ignore_patterns("__pycache__"))
        code, _ = run_tests(baseline, sorted({m.test_file for m in mutants}), None)
        if code != 0:
            print(f"mutation check: the unmutated copy fails the tests (pytest exit {code})", file=sys.stderr)
            return 2
        for i, mutant in enumerate(mutants):
            copy = Path(tmp) / f"m{i}" / "models"
            shutil.copytree(baseline, copy)
            mutate(copy, mutant)
            code, _ = run_tests(copy, [mutant.test_file], mutant.tests)
            caught = code == 1  # 1 = tests ran and failed; anything else is a broken mutant or run
            print(f"mutation check: {'caught  ' if caught else 'SURVIVED'} {mutant.name} (pytest exit {code})",
                  file=sys.stderr)
            if not caught:
                survivors.append(mutant.name)
    print(f"mutation check: {len(mutants) - len(survivors)}/{len(mutants)} mutants caught in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
