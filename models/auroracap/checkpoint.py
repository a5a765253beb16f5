"""Find, validate and read AuroraCap checkpoints (the xtuner and Hugging Face layouts).

Two layouts:

* ``xtuner`` (the published ``AuroraCap-7B-VID-xtuner``): Llama LLM + tokenizer at the root,
  ``visual_encoder/`` (CLIP vision, ``vision_model.*`` keys), ``projector/model.safetensors``
  (``model.0.*`` / ``model.2.*``; read directly, the remote-code files are never executed).
* ``hf``: a transformers ``LlavaForConditionalGeneration`` export, with the converter's key names
  (``language_model.model.*``, ``vision_tower.vision_model.*``, ``multi_modal_projector.linear_{1,2}.*``)
  or those newer transformers write (``model.language_model.*``, ``model.vision_tower.*``, ``lm_head.*``).

Everything is checked before any weight is read, so a missing or partial checkpoint gives one
VdcBenchError naming the missing file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoConfig, CLIPVisionConfig, GenerationConfig, LlamaConfig

from vdc_bench.errors import VdcBenchError

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
FINGERPRINT_CONTENT_LIMIT = 8 * 2**20  # files up to this size (configs, tokenizer) enter the fingerprint by content


class CheckpointError(VdcBenchError):
    """The checkpoint cannot be used; the message names the file."""


@dataclass
class CheckpointFiles:
    """Validated paths of one checkpoint. For ``hf`` all three weight dirs are the root."""

    layout: str  # "xtuner" | "hf"
    root: Path
    llm_dir: Path
    vision_dir: Path
    projector_dir: Path

    def text_config(self) -> LlamaConfig:
        config = AutoConfig.from_pretrained(self.root)
        return config.text_config if self.layout == "hf" else config

    def vision_config(self) -> CLIPVisionConfig:
        if self.layout == "hf":
            return AutoConfig.from_pretrained(self.root).vision_config
        return CLIPVisionConfig.from_pretrained(self.vision_dir)

    def generation_config(self) -> GenerationConfig | None:
        """The LLM's ``generation_config.json`` (upstream loads the LLM with it), or None without one."""
        path = self.llm_dir / "generation_config.json"
        if not path.is_file():
            return None
        try:
            return GenerationConfig.from_pretrained(self.llm_dir)
        except (OSError, ValueError) as err:  # invalid JSON or values
            raise CheckpointError(f"{path}: unusable generation config ({err})") from err

    def feature_layer(self) -> int:
        if self.layout == "hf":
            return int(AutoConfig.from_pretrained(self.root).vision_feature_layer)
        return -2


def fingerprint(root: Path) -> str:
    """Identity of the checkpoint under ``root`` from what it holds, cheap enough for every process start.

    Every file below ``root`` (symlinks followed, hidden names skipped) enters with its relative path, size
    and modification time; files up to ``FINGERPRINT_CONTENT_LIMIT`` (configs, tokenizer, small weights) also
    with their content. Reading 14 GB of 7B weights on every rank's start would cost tens of seconds; a
    weight file rewritten in place gets a new mtime, and a copy that does not keep mtimes (``cp`` without
    ``-p``) only changes the fingerprint: results are then recomputed, never mixed.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if stat.st_size <= FINGERPRINT_CONTENT_LIMIT:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def resolve_pretrained(pretrained: str) -> Path:
    """A local directory as is; otherwise a Hub repo id, downloaded only when the Hub is enabled."""
    path = Path(pretrained).expanduser()
    if path.is_dir():
        return path
    # ./x, ../x, ~/x and /x are local paths (a Hub id never starts with '.', '~' or '/'): never downloaded.
    looks_like_repo = re.fullmatch(r"[\w-][\w.-]*/[\w.-]+", pretrained) is not None
    if not looks_like_repo or path.exists():
        raise CheckpointError(f"{pretrained}: checkpoint directory not found")
    if os.environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0"):
        raise CheckpointError(f"{pretrained}: not a local directory, and the Hub is disabled (HF_HUB_OFFLINE=1)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=pretrained))
    except Exception as err:  # any hub/network failure: one clear message
        raise CheckpointError(f"{pretrained}: download from the Hugging Face Hub failed ({err})") from err


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing ({what})")
    return path


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files of ``directory``: a single file, or all shards named by the index."""
    single, index = directory / WEIGHTS_NAME, directory / INDEX_NAME
    if single.is_file():
        return [single]
    if not index.is_file():
        raise CheckpointError(f"{single}: missing (weights; no {INDEX_NAME} either)")
    try:
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    except (json.JSONDecodeError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{index}: not a safetensors index ({err})") from err
    return [_require(directory / shard, f"weight shard listed in {INDEX_NAME}") for shard in shards]


def _require_tokenizer(directory: Path) -> None:
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise CheckpointError(f"{directory / TOKENIZER_FILES[0]}: missing (tokenizer; tokenizer.model also absent)")


# The one projector AuroraProjector builds (Linear-GELU-Linear with bias); a config asking for another
# would otherwise be ignored silently. Keys as the xtuner projector config and the LLaVA config spell them.
_PROJECTOR = {"xtuner": {"depth": 2, "hidden_act": "gelu", "bias": True}, "hf": {"projector_hidden_act": "gelu"}}


def _check_projector_config(files: CheckpointFiles) -> None:
    path = files.projector_dir / "config.json"
    if not path.is_file():
        return
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: invalid JSON ({err})") from err
    for key, supported in _PROJECTOR[files.layout].items():
        if key in config and config[key] != supported:
            raise CheckpointError(
                f"{path}: projector {key}={config[key]!r} is not supported "
                f"(AuroraCap's projector has {key}={supported!r})"
            )


def locate(pretrained: str) -> CheckpointFiles:
    """Detect the layout and check that every file it needs is present."""
    root = resolve_pretrained(pretrained)
    config_path = _require(root / "config.json", "model config")
    try:
        model_type = json.loads(config_path.read_text()).get("model_type")
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{config_path}: invalid JSON ({err})") from err
    _require_tokenizer(root)
    if model_type == "llava":
        weight_files(root)
        files = CheckpointFiles("hf", root, root, root, root)
        _check_projector_config(files)
        return files
    if model_type != "llama":
        raise CheckpointError(f"{config_path}: model_type {model_type!r} is neither an xtuner Llama root nor 'llava'")
    files = CheckpointFiles("xtuner", root, root, root / "visual_encoder", root / "projector")
    _require(files.vision_dir / "config.json", "xtuner visual encoder config")
    for directory in (files.llm_dir, files.vision_dir):
        weight_files(directory)
    _require(files.projector_dir / WEIGHTS_NAME, "xtuner projector weights")
    _check_projector_config(files)
    return files


def read_tensors(files: list[Path], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as f:
                for key in f.keys():
                    out[key] = f.get_tensor(key)
        except (SafetensorError, OSError) as err:  # truncated or damaged file: name it, no traceback
            raise CheckpointError(f"{path}: unreadable safetensors file ({err})") from err
    return out


# hf export key prefix -> (component, prefix in our modules); first match wins.
_HF_PREFIXES = (
    ("language_model.lm_head.", "llm", "lm_head."),
    ("lm_head.", "llm", "lm_head."),
    ("language_model.model.", "llm", "model."),
    ("model.language_model.", "llm", "model."),
    ("vision_tower.vision_model.", "vision", "vision_model."),
    ("model.vision_tower.vision_model.", "vision", "vision_model."),
    ("vision_tower.", "vision", "vision_model."),
    ("model.vision_tower.", "vision", "vision_model."),
    ("multi_modal_projector.linear_1.", "projector", "model.0."),
    ("model.multi_modal_projector.linear_1.", "projector", "model.0."),
    ("multi_modal_projector.linear_2.", "projector", "model.2."),
    ("model.multi_modal_projector.linear_2.", "projector", "model.2."),
)


def split_hf_state_dict(state: dict[str, torch.Tensor], source: Path) -> dict[str, dict[str, torch.Tensor]]:
    """LLaVA export keys -> {"llm": ..., "vision": ..., "projector": ...} in our module names."""
    parts: dict[str, dict[str, torch.Tensor]] = {"llm": {}, "vision": {}, "projector": {}}
    for key, tensor in state.items():
        for prefix, part, ours in _HF_PREFIXES:
            if key.startswith(prefix):
                parts[part][ours + key[len(prefix) :]] = tensor
                break
        else:
            if key == "image_newline":  # the beta transformers fork adds one; AuroraCap never uses it
                continue
            raise CheckpointError(f"{source}: unexpected tensor {key!r} for a LLaVA export")
    return parts


POSITION_EMBEDDING = "vision_model.embeddings.position_embedding.weight"


def fold_pos_emb(vision: dict[str, torch.Tensor], source: Path) -> dict[str, torch.Tensor]:
    """Accept upstream's second name for the position embedding.

    AuroraCap's encoder keeps ``pos_emb``, an alias of the position embedding registered as a parameter
    of its own, so its saved weights may hold that key too (or only that one). It must equal the
    position embedding; it then stands for it.
    """
    alias = vision.pop("vision_model.pos_emb", None)
    if alias is None:
        return vision
    if POSITION_EMBEDDING not in vision:
        vision[POSITION_EMBEDDING] = alias
    elif alias.shape != vision[POSITION_EMBEDDING].shape or not torch.equal(alias, vision[POSITION_EMBEDDING]):
        raise CheckpointError(
            f"{source}: tensor 'pos_emb' differs from the position embedding "
            f"'{POSITION_EMBEDDING.removeprefix('vision_model.')}' (upstream keeps them identical)"
        )
    return vision


def read_state_dicts(files: CheckpointFiles, device: torch.device | str = "cpu") -> dict[str, dict[str, torch.Tensor]]:
    """All weights, keyed by component, with our module names."""
    if files.layout == "hf":
        parts = split_hf_state_dict(read_tensors(weight_files(files.root), device), files.root)
        parts["vision"] = fold_pos_emb(parts["vision"], files.root)
        return parts
    vision = read_tensors(weight_files(files.vision_dir), device)
    return {
        "llm": read_tensors(weight_files(files.llm_dir), device),
        # transformers >= 5 saves CLIPVisionModel without the ``vision_model.`` prefix
        "vision": fold_pos_emb(
            {k if k.startswith("vision_model.") else "vision_model." + k: v for k, v in vision.items()},
            files.vision_dir,
        ),
        "projector": read_tensors([files.projector_dir / WEIGHTS_NAME], device),
    }
