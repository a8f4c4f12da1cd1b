# Loads the distilled LoRA onto the DiT only. diffusers' LTX-2 loader also puts adapters on the text
# connectors when the file has `text_embedding_projection.*` / `connectors.*` keys; Lightricks' reference
# (ltx-pipelines ti2vid_two_stages.py: the PromptEncoder never gets a LoRA) never does, so those keys are
# dropped here. See docs/ltx-engine.md ("Distilled LoRA").
from __future__ import annotations

from pathlib import Path
from typing import Any


def load_dit_lora(pipe: Any, file: str | Path, adapter_name: str) -> int:
    """Loads the LoRA file's transformer part as adapter_name on pipe.transformer; returns how many
    connector tensors were left out."""
    file = Path(file)
    state_dict, metadata = pipe.lora_state_dict(str(file.parent), weight_name=file.name, return_lora_metadata=True)
    prefix = f"{pipe.transformer_name}."
    dit = {k: v for k, v in state_dict.items() if k.startswith(prefix)}
    dropped = len(state_dict) - len(dit)
    pipe.load_lora_into_transformer(
        dit,
        transformer=pipe.transformer,
        adapter_name=adapter_name,
        metadata=metadata,
        _pipeline=pipe,
    )
    return dropped
