"""Tiny but genuine model files for upload tests: a BERT config and a hand-built safetensors file."""

import json
import math
import struct
from typing import Any

Shapes = dict[str, tuple[int, ...]]
TINY = {"vocab_size": 32, "hidden_size": 8, "num_hidden_layers": 2, "intermediate_size": 16}
TINY_CONFIG: dict[str, Any] = {"model_type": "bert", **TINY, "max_position_embeddings": 16}


def safetensors_bytes(shapes: Shapes, dtype: str = "F32") -> bytes:
    """A safetensors file of zeros with these tensor shapes (the format: 8-byte length, JSON, data)."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        size = math.prod(shape) * 4
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * offset


def bert_shapes(config: dict[str, Any] = TINY_CONFIG, prefix: str = "") -> Shapes:
    """Every weight a BERT encoder with this config has, as transformers names them."""
    v, h, n = config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]
    i, p = config["intermediate_size"], config["max_position_embeddings"]
    shapes: Shapes = {
        "embeddings.word_embeddings.weight": (v, h),
        "embeddings.position_embeddings.weight": (p, h),
        "embeddings.token_type_embeddings.weight": (2, h),
        "embeddings.LayerNorm.weight": (h,),
        "embeddings.LayerNorm.bias": (h,),
    }
    for layer in range(n):
        at = f"encoder.layer.{layer}."
        for name in ("self.query", "self.key", "self.value", "output.dense"):
            shapes[f"{at}attention.{name}.weight"] = (h, h)
            shapes[f"{at}attention.{name}.bias"] = (h,)
        shapes[f"{at}attention.output.LayerNorm.weight"] = (h,)
        shapes[f"{at}intermediate.dense.weight"] = (i, h)
        shapes[f"{at}output.dense.weight"] = (h, i)
        shapes[f"{at}output.LayerNorm.weight"] = (h,)
    return {prefix + name: shape for name, shape in shapes.items()}


def model_files(
    config: dict[str, Any] | None = None, shapes: Shapes | None = None
) -> list[tuple[str, bytes]]:
    """config.json and model.safetensors; by default a consistent tiny BERT."""
    config = config if config is not None else TINY_CONFIG
    weights = shapes if shapes is not None else bert_shapes(config)
    return [("config.json", json.dumps(config).encode()), ("model.safetensors", safetensors_bytes(weights))]
