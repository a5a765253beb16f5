"""The composed AuroraCap model: ToMe CLIP tower -> projector -> spliced into Llama's input embeddings.

The three stages are separate methods (``encode_frames``, ``embed_inputs``, ``language_model.generate``)
so encode / prefill / decode can be timed and optimised independently. Nothing here loops over tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import CLIPVisionConfig, LlamaConfig, LlamaForCausalLM

from vdc_bench.models.auroracap.checkpoint import CheckpointError, CheckpointFiles, read_state_dicts
from vdc_bench.models.auroracap.projector import AuroraProjector
from vdc_bench.models.auroracap.prompting import IMAGE_TOKEN_INDEX
from vdc_bench.models.auroracap.vision_tower import AuroraVisionTower


class AuroraCapModel(nn.Module):
    def __init__(
        self,
        vision_config: CLIPVisionConfig,
        text_config: LlamaConfig,
        feature_layer: int = -2,
        attn_implementation: str = "sdpa",
        proportional_attention: bool = False,
    ) -> None:
        super().__init__()
        text_config._attn_implementation = attn_implementation
        self.vision_tower = AuroraVisionTower(vision_config, feature_layer, attn_implementation, proportional_attention)
        self.projector = AuroraProjector(vision_config.hidden_size, text_config.hidden_size)
        self.language_model = LlamaForCausalLM(text_config)

    @classmethod
    def from_checkpoint(
        cls,
        files: CheckpointFiles,
        dtype: torch.dtype,
        device: torch.device,
        attn_implementation: str = "sdpa",
        proportional_attention: bool = False,
    ) -> AuroraCapModel:
        """Build on the meta device and assign the checkpoint tensors (no random init, no second copy)."""
        return cls.from_state_dicts(
            files.vision_config(), files.text_config(), read_state_dicts(files, device), dtype, device,
            feature_layer=files.feature_layer(), attn_implementation=attn_implementation,
            proportional_attention=proportional_attention, source=f"{files.root}: {files.layout}",
        )

    @classmethod
    def from_state_dicts(
        cls,
        vision_config: CLIPVisionConfig,
        text_config: LlamaConfig,
        states: dict[str, dict[str, torch.Tensor]],
        dtype: torch.dtype,
        device: torch.device,
        feature_layer: int = -2,
        attn_implementation: str = "sdpa",
        proportional_attention: bool = False,
        source: str = "weights",
    ) -> AuroraCapModel:
        """Assign {"llm", "vision", "projector"} state dicts (our module names); consumes ``states``."""
        with torch.device("meta"):
            model = cls(vision_config, text_config, feature_layer, attn_implementation, proportional_attention)
        for part, module in (("llm", model.language_model), ("vision", model.vision_tower), ("projector", model.projector)):
            state = {k: v.to(dtype) for k, v in states.pop(part).items()}
            expected = set(module.state_dict())
            missing, unexpected = expected - set(state), set(state) - expected
            if missing or unexpected:
                raise CheckpointError(
                    f"{source} {part} weights do not match the config "
                    f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
                )
            shapes = module.state_dict()
            for name, tensor in state.items():  # load_state_dict would list every mismatch in a traceback
                if tensor.shape != shapes[name].shape:
                    raise CheckpointError(
                        f"{source} {part} tensor {name} has shape {list(tensor.shape)} but the config makes it "
                        f"{list(shapes[name].shape)}: config and weights do not belong together"
                    )
            module.load_state_dict(state, assign=True)
        model._rebuild_buffers(text_config, device)
        return model.eval()

    def _rebuild_buffers(self, text_config: LlamaConfig, device: torch.device) -> None:
        """Non-persistent buffers are not in checkpoints and stay on meta after ``assign`` loading."""
        rotary = self.language_model.model.rotary_emb
        self.language_model.model.rotary_emb = type(rotary)(config=text_config).to(device)
        embeddings = self.vision_tower.vision_model.embeddings
        embeddings.position_ids = torch.arange(embeddings.num_positions, device=device).expand((1, -1))

    @property
    def dtype(self) -> torch.dtype:
        return self.projector.model[0].weight.dtype

    @property
    def device(self) -> torch.device:
        return self.projector.model[0].weight.device

    def encode_frames(self, pixel_values: torch.Tensor, token_kept_ratio: float) -> torch.Tensor:
        """(N, 3, H, W) frames -> (N, N_f, llm_hidden) visual tokens, all frames merged at this ratio."""
        features = self.vision_tower(pixel_values.to(device=self.device, dtype=self.dtype), token_kept_ratio)
        return self.projector(features)

    def embed_inputs(
        self, input_ids: Sequence[Sequence[int]], frame_tokens: Sequence[Sequence[torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Splice frame tokens at the -200 sentinels and left-pad into a batch.

        Args:
            input_ids: per request, token ids with one IMAGE_TOKEN_INDEX per frame.
            frame_tokens: per request, one (n_i, llm_hidden) tensor per frame, in sentinel order.

        Returns:
            inputs_embeds (B, T, llm_hidden) and attention_mask (B, T), left padded.
        """
        embed = self.language_model.get_input_embeddings()
        sequences = []
        for ids, frames in zip(input_ids, frame_tokens, strict=True):
            ids_t = torch.tensor(ids, device=self.device)
            is_image = ids_t == IMAGE_TOKEN_INDEX
            if int(is_image.sum()) != len(frames):
                raise ValueError(f"{int(is_image.sum())} image sentinels for {len(frames)} frames")
            text = embed(ids_t.masked_fill(is_image, 0))
            cuts = torch.nonzero(is_image).flatten().tolist()
            pieces, start = [], 0
            for cut, frame in zip(cuts, frames, strict=True):
                pieces += [text[start:cut], frame.to(text.dtype)]
                start = cut + 1
            pieces.append(text[start:])
            sequences.append(torch.cat(pieces))
        longest = max(seq.shape[0] for seq in sequences)
        hidden = sequences[0].shape[-1]
        inputs_embeds = sequences[0].new_zeros((len(sequences), longest, hidden))
        attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long, device=self.device)
        for row, seq in enumerate(sequences):
            inputs_embeds[row, longest - seq.shape[0] :] = seq
            attention_mask[row, longest - seq.shape[0] :] = 1
        return inputs_embeds, attention_mask
