"""config.json against the safetensors headers: bounds, custom code, every encoder weight present."""

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

from secateur.kernel.files.model_check import ModelCheckError, check_model, read_header
from secateur.kernel.settings import Settings
from tests.support.tiny_safetensors import TINY_CONFIG, bert_shapes, safetensors_bytes

SETTINGS = Settings(_env_file=None)


def _header(payload: bytes) -> dict[str, tuple[int, ...]]:
    """The shapes read from a safetensors file in memory."""
    return read_header(io.BytesIO(payload), len(payload), "model.safetensors")


def test_the_header_reader_agrees_with_the_safetensors_library() -> None:
    """A file written by safetensors itself reads back with its shapes (so the test fixtures are real)."""
    payload = save({"a": np.zeros((3, 4), dtype=np.float32), "b": np.zeros((5,), dtype=np.float16)})
    assert _header(payload) == {"a": (3, 4), "b": (5,)}
    fixture = safetensors_bytes({"x": (2, 3)})
    assert _header(fixture) == {"x": (2, 3)}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x01\x02", "too short"),
        ((10**9).to_bytes(8, "little") + b"{}", "header length"),
        ((4).to_bytes(8, "little") + b"nope", "not JSON"),
        (safetensors_bytes({"x": (2, 3)})[:-4], "outside the file"),
    ],
)
def test_broken_safetensors_files_are_refused(payload: bytes, message: str) -> None:
    """Short files, absurd header lengths, non-JSON headers and data past the end are refused."""
    with pytest.raises(ModelCheckError, match=message):
        _header(payload)


def test_a_consistent_tiny_bert_passes_with_or_without_a_task_prefix() -> None:
    """The weights of a bare encoder and of a task model (`bert.` prefix, head missing) both pass."""
    check_model(TINY_CONFIG, bert_shapes(), SETTINGS)
    check_model(TINY_CONFIG, bert_shapes(prefix="bert."), SETTINGS)


def test_custom_code_is_refused() -> None:
    """An auto_map would make transformers import the archive's own Python."""
    config = {**TINY_CONFIG, "auto_map": {"AutoModel": "modeling_evil.EvilModel"}}
    with pytest.raises(ModelCheckError, match="auto_map"):
        check_model(config, bert_shapes(), SETTINGS)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("vocab_size", 300_000, "vocab_size is 300000, above the limit of 250000"),
        ("hidden_size", 8192, "hidden_size is 8192"),
        ("num_hidden_layers", 49, "num_hidden_layers is 49"),
        ("intermediate_size", 10**6, "intermediate_size"),
        ("max_position_embeddings", 10**5, "max_position_embeddings"),
        ("vocab_size", True, "positive integer"),
        ("num_hidden_layers", "12", "positive integer"),
    ],
)
def test_sizes_over_their_bounds_are_refused(key: str, value: Any, message: str) -> None:
    """The sizes the worker would allocate are bounded by settings, whatever the weights say."""
    with pytest.raises(ModelCheckError, match=message):
        check_model({**TINY_CONFIG, key: value}, bert_shapes(), SETTINGS)


def test_a_bare_config_with_one_tensor_names_the_first_missing_weight() -> None:
    """`{"model_type": "bert"}` means 12 layers of 768: the one tensor uploaded cannot supply them."""
    shapes = {"embeddings.word_embeddings.weight": (30522, 768)}
    with pytest.raises(ModelCheckError, match=r"position_embeddings\.weight: missing") as caught:
        check_model({"model_type": "bert"}, shapes, SETTINGS)
    assert caught.value.tensor == "embeddings.position_embeddings.weight"


def test_a_missing_layer_and_a_misshapen_weight_are_named() -> None:
    """Every layer the config counts must be there, each weight with the shape it implies."""
    shapes = bert_shapes()
    del shapes["encoder.layer.1.output.dense.weight"]
    with pytest.raises(ModelCheckError, match=r"encoder\.layer\.1\.output\.dense\.weight: missing"):
        check_model(TINY_CONFIG, shapes, SETTINGS)
    shapes = {**bert_shapes(), "encoder.layer.0.intermediate.dense.weight": (8, 8)}
    with pytest.raises(ModelCheckError, match=r"shape \[8, 8\] where the config implies \[16, 8\]"):
        check_model(TINY_CONFIG, shapes, SETTINGS)


def test_unknown_model_types_are_refused() -> None:
    """Only the architectures whose weights can be checked are accepted."""
    with pytest.raises(ModelCheckError, match="model_type 'gpt2' is not supported"):
        check_model({"model_type": "gpt2"}, {}, SETTINGS)


@pytest.mark.parametrize("model_type", ["bert", "roberta", "electra", "mpnet", "deberta-v2", "distilbert"])
def test_every_supported_family_matches_what_transformers_saves(tmp_path: Path, model_type: str) -> None:
    """A tiny model of each family, saved by transformers, passes; the check agrees with the real names."""
    transformers = pytest.importorskip("transformers")
    sizes = dict(vocab_size=40, max_position_embeddings=24)
    if model_type == "distilbert":
        sizes.update(dim=8, n_layers=2, n_heads=2, hidden_dim=16)
    else:
        sizes.update(hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16)
    if model_type == "electra":
        sizes["embedding_size"] = 4
    config = transformers.AutoConfig.for_model(model_type, **sizes)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(tmp_path, safe_serialization=True)
    payload = (tmp_path / "model.safetensors").read_bytes()
    saved = json.loads((tmp_path / "config.json").read_text())
    check_model(saved, _header(payload), SETTINGS)
