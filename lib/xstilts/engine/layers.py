"""Which hidden states an embedding reads, and how they are pooled (retrieval and dual encoders).

`hidden_states[layer]` of a transformers encoder (index 0 = the embedding output, `num_layers` = the last
layer) is pooled over the attention mask ("mean", `<s>` and `</s>` included, as jiant's `MeanPoolerHead`)
or taken at `<s>` ("cls"). A layer may be given as a fraction of depth so that one setting means the same
relative depth for every size of the ladder; jiant reads layer 14 of XLM-R large's 24 for retrieval.
A dual encoder records the layer it was trained to pool in its config, so ranking reads what training used.

`layer_states` reads a layer in the same normalised space for every size: XLM-R base and large are
post-LayerNorm (every layer's output is normalised), but XLM-R XL and XXL are pre-LayerNorm -- their
`hidden_states[i]` below the last is the un-normalised residual stream, and only the encoder's final
LayerNorm (`XLMRobertaXLEncoder.LayerNorm`, transformers models/xlm_roberta_xl/modeling_xlm_roberta_xl.py)
normalises it; `hidden_states[-1]` is already its output. So a middle layer of a pre-LayerNorm encoder is
read through that final LayerNorm, as its last layer is; on a post-LayerNorm encoder nothing changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

POOLINGS = ("mean", "cls")
EMBEDDING_LAYER_KEY = "xstilts_embedding_layer"  # encoder-config attribute: a dual encoder's pooled layer


def default_retrieval_layer(num_layers: int) -> int:
    """jiant's retrieval layer (14 of 24, ``xtreme_runconfig_writer.py``) scaled to ``num_layers``."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    return max(1, min(num_layers, round(14 * num_layers / 24)))


def resolve_layer(layer: int | float, num_layers: int) -> int:
    """A ``hidden_states`` index: an int as given, a float in (0, 1] as that fraction of the depth (at
    least 1), so one setting means the same relative depth for every size of the ladder."""
    if isinstance(layer, float) and layer <= 1:
        return max(1, round(layer * num_layers))
    return int(layer)


def set_embedding_layer(config, layer: int | float) -> int:
    """Record on an encoder's ``config`` the hidden layer (``resolve_layer``) its dual-encoder embedding
    pools; ``save_pretrained`` writes it to ``config.json``, so evaluation reads what training used."""
    n = config.num_hidden_layers
    index = resolve_layer(layer, n)
    if not -(n + 1) <= index <= n:
        raise ValueError(f"embedding_layer {layer!r} out of range for a {n}-layer encoder")
    setattr(config, EMBEDDING_LAYER_KEY, index)
    return index


def embedding_layer(config, default: int = -1) -> int:
    """The layer ``set_embedding_layer`` recorded on ``config``, else ``default`` (-1: the last)."""
    return int(getattr(config, EMBEDDING_LAYER_KEY, default))


def final_layer_norm(model):
    """The final LayerNorm of a pre-LayerNorm encoder (`encoder.LayerNorm` of XLM-R XL/XXL), else None."""
    base = getattr(model, "base_model", model)
    norm = getattr(getattr(base, "encoder", None), "LayerNorm", None)
    return norm if callable(norm) else None


def layer_states(model, hidden_states, layer: int) -> torch.Tensor:
    """``hidden_states[layer]`` in the normalised space of the last layer: through the final LayerNorm of a
    pre-LayerNorm encoder for every layer below the last (module docstring); unchanged otherwise."""
    last = len(hidden_states) - 1
    state = hidden_states[layer]
    norm = final_layer_norm(model)
    if norm is not None and layer % (last + 1) != last:
        state = norm(state)
    return state


def pool_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool (batch, seq, H) token states to (batch, H): 'mean' over mask = 1 positions (special tokens
    included, jiant ``MeanPoolerHead``) or 'cls' (position 0)."""
    if pooling == "mean":
        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    if pooling == "cls":
        return hidden[:, 0]
    raise ValueError(f"pooling {pooling!r} is not a token-state pooling; expected 'mean' or 'cls'")
