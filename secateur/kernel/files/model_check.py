"""Check an uploaded model's config.json against its safetensors headers, without torch.

The worker builds whatever the config describes and initialises any weight the files lack at random,
so a tiny archive could ask for gigabytes or train a random encoder. Here the config's sizes are
bounded and every encoder weight it implies must be in the safetensors files with the right shape;
only the task head may be missing.
"""

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from secateur.kernel.settings import Settings

MAX_CONFIG_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024 * 1024
_DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}  # fmt: skip

Shapes = dict[str, tuple[int, ...]]


class ModelCheckError(ValueError):
    """The model's config or weights are refused; `tensor` names the offending weight, if any."""

    def __init__(self, message: str, tensor: str | None = None) -> None:
        """Keep the reason and the tensor apart, for the API's `errors` list."""
        super().__init__(f"{tensor}: {message}" if tensor else message)
        self.tensor, self.reason = tensor, message


@dataclass(frozen=True)
class Family:
    """Where one architecture keeps its encoder weights, and what its config keys are called."""

    layer: str  # per-layer prefix, with {i} for the index
    attention: tuple[str, ...]  # each [hidden, hidden]
    ffn_in: str  # [intermediate, hidden]
    ffn_out: str  # [hidden, intermediate]
    norms: tuple[str, ...]  # each [hidden]
    defaults: Mapping[str, int]  # transformers' config defaults, for keys the config leaves out
    keys: Mapping[str, str] = field(default_factory=dict)  # our name -> the config's name, where it differs
    positions: bool = True  # absolute position embeddings [positions, embedding]
    embedding_size: bool = False  # embeddings narrower than the hidden size, projected up (ELECTRA)


_OUTPUT = "attention.output.dense.weight"
_BERT_SIZES = dict(vocab=30522, hidden=768, layers=12, intermediate=3072, positions=512)


def _bert_like(embedding_size: bool = False, **sizes: int) -> Family:
    """A family with BERT's weight names (RoBERTa, ELECTRA, ...), with its own default sizes."""
    return Family(
        embedding_size=embedding_size,
        layer="encoder.layer.{i}.",
        attention=(*(f"attention.self.{p}.weight" for p in ("query", "key", "value")), _OUTPUT),
        ffn_in="intermediate.dense.weight",
        ffn_out="output.dense.weight",
        norms=("attention.output.LayerNorm.weight", "output.LayerNorm.weight"),
        defaults={**_BERT_SIZES, **sizes},
    )


FAMILIES: dict[str, Family] = {
    "bert": _bert_like(),
    "roberta": _bert_like(vocab=50265),
    "xlm-roberta": _bert_like(),
    "camembert": _bert_like(),
    "electra": _bert_like(embedding_size=True, hidden=256, intermediate=1024, embedding=128),
    "mpnet": Family(
        layer="encoder.layer.{i}.",
        attention=tuple(f"attention.attn.{p}.weight" for p in "qkvo"),
        ffn_in="intermediate.dense.weight",
        ffn_out="output.dense.weight",
        norms=("attention.LayerNorm.weight", "output.LayerNorm.weight"),
        defaults={**_BERT_SIZES, "vocab": 30527, "positions": 514},
    ),
    "deberta-v2": Family(
        layer="encoder.layer.{i}.",
        attention=(*(f"attention.self.{p}_proj.weight" for p in ("query", "key", "value")), _OUTPUT),
        ffn_in="intermediate.dense.weight",
        ffn_out="output.dense.weight",
        norms=("attention.output.LayerNorm.weight", "output.LayerNorm.weight"),
        defaults=dict(vocab=128100, hidden=1536, layers=24, intermediate=6144, positions=512),
        positions=False,  # relative attention; v3 checkpoints have no absolute position table
    ),
    "distilbert": Family(
        layer="transformer.layer.{i}.",
        attention=tuple(f"attention.{p}_lin.weight" for p in ("q", "k", "v", "out")),
        ffn_in="ffn.lin1.weight",
        ffn_out="ffn.lin2.weight",
        norms=("sa_layer_norm.weight", "output_layer_norm.weight"),
        defaults=dict(vocab=30522, hidden=768, layers=6, intermediate=3072, positions=512),
        keys=dict(hidden="dim", layers="n_layers", intermediate="hidden_dim"),
    ),
}
_CONFIG_KEYS = dict(
    vocab="vocab_size",
    hidden="hidden_size",
    layers="num_hidden_layers",
    intermediate="intermediate_size",
    positions="max_position_embeddings",
    embedding="embedding_size",
)


def read_header(stream: IO[bytes], size: int, name: str) -> Shapes:
    """The tensor shapes of a safetensors file, from its JSON header; reads nothing else."""
    prefix = stream.read(8)
    if len(prefix) < 8:
        raise ModelCheckError(f"{name} is not a safetensors file (too short)")
    (length,) = struct.unpack("<Q", prefix)
    if length > min(MAX_HEADER_BYTES, size - 8):
        raise ModelCheckError(f"{name} is not a safetensors file (its header length is {length} bytes)")
    try:
        header = json.loads(stream.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelCheckError(f"{name} is not a safetensors file (its header is not JSON)") from exc
    if not isinstance(header, dict):
        raise ModelCheckError(f"{name} is not a safetensors file (its header is not an object)")
    data_bytes = size - 8 - length
    return {
        tensor: _tensor_shape(info, tensor, data_bytes)
        for tensor, info in header.items()
        if tensor != "__metadata__"
    }


def _tensor_shape(info: Any, tensor: str, data_bytes: int) -> tuple[int, ...]:
    """One header entry's shape, after checking that its bytes lie inside the file."""
    try:
        dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
        dims = tuple(int(d) for d in shape if isinstance(d, int) and not isinstance(d, bool))
        valid = len(dims) == len(shape) and all(d >= 0 for d in dims) and isinstance(start, int)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCheckError("malformed safetensors header entry", tensor) from exc
    if not valid or dtype not in _DTYPE_BYTES:
        raise ModelCheckError("malformed safetensors header entry", tensor)
    if not (isinstance(end, int) and 0 <= start <= end <= data_bytes):
        raise ModelCheckError("its data lies outside the file", tensor)
    if end - start != math.prod(dims) * _DTYPE_BYTES[dtype]:
        raise ModelCheckError(f"its data is {end - start} bytes, not what {dtype}{list(dims)} needs", tensor)
    return dims


def parse_config(raw: bytes) -> dict[str, Any]:
    """config.json as a JSON object."""
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelCheckError(f"config.json is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelCheckError("config.json must hold a JSON object")
    return config


def _sizes(config: dict[str, Any], family: Family, settings: Settings) -> dict[str, int]:
    """The config's sizes (transformers' defaults where absent), each checked against its bound."""
    bounds = {
        "vocab": settings.model_max_vocab_size,
        "hidden": settings.model_max_hidden_size,
        "layers": settings.model_max_layers,
        "intermediate": settings.model_max_intermediate_size,
        "positions": settings.model_max_position_embeddings,
    }
    if family.embedding_size:
        bounds["embedding"] = settings.model_max_hidden_size
    sizes: dict[str, int] = {}
    for name, bound in bounds.items():
        key = family.keys.get(name, _CONFIG_KEYS[name])
        value = config.get(key, family.defaults[name])
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ModelCheckError(f"config.json: {key} must be a positive integer")
        if value > bound:
            raise ModelCheckError(f"config.json: {key} is {value}, above the limit of {bound}")
        sizes[name] = value
    sizes.setdefault("embedding", sizes["hidden"])
    return sizes


def check_model(config: dict[str, Any], shapes: Shapes, settings: Settings) -> None:
    """Refuse custom code, oversized configs and missing or misshapen encoder weights."""
    if "auto_map" in config:
        raise ModelCheckError("config.json has an auto_map (custom model code), which is not allowed")
    model_type = config.get("model_type")
    family = FAMILIES.get(model_type) if isinstance(model_type, str) else None
    if family is None:
        raise ModelCheckError(
            f"config.json: model_type {model_type!r} is not supported; supported: {', '.join(FAMILIES)}"
        )
    sizes = _sizes(config, family, settings)
    hidden, inner, embedding = sizes["hidden"], sizes["intermediate"], sizes["embedding"]
    expected: dict[str, tuple[int, ...]] = {"embeddings.word_embeddings.weight": (sizes["vocab"], embedding)}
    if family.positions:
        expected["embeddings.position_embeddings.weight"] = (sizes["positions"], embedding)
    expected["embeddings.LayerNorm.weight"] = (embedding,)
    if embedding != hidden:
        expected["embeddings_project.weight"] = (hidden, embedding)
    for i in range(sizes["layers"]):
        layer = family.layer.format(i=i)
        expected.update({layer + name: (hidden, hidden) for name in family.attention})
        expected[layer + family.ffn_in] = (inner, hidden)
        expected[layer + family.ffn_out] = (hidden, inner)
        expected.update({layer + name: (hidden,) for name in family.norms})
    prefix = _base_prefix(shapes)
    for name, shape in expected.items():
        _expect(shapes, prefix + name, shape)


def _base_prefix(shapes: Shapes) -> str:
    """The base model's prefix in the weight names (`bert.` for a task model, empty for a bare one)."""
    suffix = "embeddings.word_embeddings.weight"
    found = [name[: -len(suffix)] for name in shapes if name.endswith(suffix)]
    found = [prefix for prefix in found if prefix == "" or prefix.endswith(".")]
    if not found:
        raise ModelCheckError("missing from the safetensors weights", suffix)
    return min(found, key=len)


def _expect(shapes: Shapes, name: str, shape: tuple[int, ...]) -> None:
    """One weight must be present with `shape`; old LayerNorms may call their weight `gamma`."""
    actual = shapes.get(name)
    if actual is None and name.endswith("LayerNorm.weight"):
        actual = shapes.get(name.removesuffix("weight") + "gamma")
    if actual is None:
        raise ModelCheckError("missing from the safetensors weights", name)
    if actual != shape:
        raise ModelCheckError(f"shape {list(actual)} where the config implies {list(shape)}", name)
