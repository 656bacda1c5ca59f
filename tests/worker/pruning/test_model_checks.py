"""Models are checked before they are allocated: no custom code, bounded sizes, no random encoder weights."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.support.synthetic import make_model_dir
from worker.pruning.engine import _load_tokenizer
from worker.pruning.errors import ModelError
from worker.pruning.surgery import load_model, read_config
from worker.pruning.types import InputLimits

CUSTOM_CONFIG = """
from pathlib import Path
from transformers import BertConfig
Path({marker!r}).touch()
class CustomConfig(BertConfig):
    model_type = "custom-bert"
"""


def edit_json(path: Path, **changes: Any) -> None:
    """Update keys of a JSON file in place."""
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.fixture
def a_yes_on_stdin(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer "y" to any prompt, as a careless operator would; returns the prompts asked."""
    asked: list[str] = []

    def answer(prompt: str = "") -> str:
        asked.append(prompt)
        return "y"

    monkeypatch.setattr(builtins, "input", answer)
    return asked


def test_custom_code_never_runs_even_when_the_terminal_says_yes(
    tmp_path: Path, a_yes_on_stdin: list[str]
) -> None:
    """A model whose config needs its own code: nothing prompts, nothing runs, and the config is refused."""
    model_dir = make_model_dir(tmp_path, "bert")
    marker = tmp_path / "custom-code-ran"
    (model_dir / "custom_config.py").write_text(CUSTOM_CONFIG.format(marker=str(marker)))
    edit_json(
        model_dir / "config.json",
        model_type="custom-bert",
        auto_map={"AutoConfig": "custom_config.CustomConfig"},
    )
    _load_tokenizer(str(model_dir))  # its own files suffice; the config's code is not needed
    assert not marker.exists() and a_yes_on_stdin == []
    with pytest.raises(ModelError, match="auto_map"):
        read_config(str(model_dir))
    assert not marker.exists() and a_yes_on_stdin == []


def test_a_config_with_auto_map_is_refused(tmp_path: Path, a_yes_on_stdin: list[str]) -> None:
    """Even a known model_type is refused when its config points at custom code."""
    model_dir = make_model_dir(tmp_path, "bert")
    edit_json(model_dir / "config.json", auto_map={"AutoConfig": "custom.Config"})
    with pytest.raises(ModelError, match="auto_map"):
        load_model(str(model_dir), "classification", 2)
    assert a_yes_on_stdin == []


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("vocab_size", 300_000, {"max_vocab_size": 250_000}),
        ("hidden_size", 8192, {"max_hidden_size": 4096}),
        ("num_hidden_layers", 96, {"max_layers": 48}),
        ("intermediate_size", 65_536, {"max_intermediate_size": 16_384}),
        ("max_position_embeddings", 1_000_000, {"max_position_embeddings": 8192}),
    ],
)
def test_oversized_configs_are_refused_before_loading(
    tmp_path: Path, field: str, value: int, limit: dict[str, int]
) -> None:
    """Each bound names the field, its value and the limit."""
    model_dir = make_model_dir(tmp_path, "bert")
    edit_json(model_dir / "config.json", **{field: value})
    limits = InputLimits(**limit)
    label = "number of layers" if field == "num_hidden_layers" else field
    with pytest.raises(
        ModelError, match=f"{label} is {value}, above this server's limit of {limit.popitem()[1]}"
    ):
        read_config(str(model_dir), limits)
    with pytest.raises(ModelError, match="limit"):
        load_model(str(model_dir), "classification", 2, limits=limits)


def test_distilbert_feed_forward_width_is_bounded_under_its_own_name(tmp_path: Path) -> None:
    """DistilBERT's `hidden_dim` is its intermediate size."""
    model_dir = make_model_dir(tmp_path, "distilbert")
    edit_json(model_dir / "config.json", hidden_dim=20_000)
    with pytest.raises(ModelError, match="hidden_dim is 20000"):
        read_config(str(model_dir), InputLimits(max_intermediate_size=16_384))


def test_a_tiny_archive_cannot_make_the_worker_build_a_large_model(tmp_path: Path) -> None:
    """`{"model_type": "bert"}` with one small tensor: refused from the safetensors header, not trained."""
    model_dir = tmp_path / "tiny-claims-big"
    model_dir.mkdir()
    (model_dir / "config.json").write_text('{"model_type": "bert"}')
    save_file({"x": torch.zeros(4)}, str(model_dir / "model.safetensors"))
    with pytest.raises(
        ModelError, match=r"encoder of [\d,]+ weights, but its .safetensors files hold only 4"
    ):
        load_model(str(model_dir), "classification", 2)


def test_missing_encoder_weights_are_refused_even_when_the_file_is_big_enough(tmp_path: Path) -> None:
    """A layer's weights replaced by an unrelated tensor of the same size would load at random: refused."""
    model_dir = make_model_dir(tmp_path, "bert")
    weights = load_file(str(model_dir / "model.safetensors"))
    name = "encoder.layer.1.attention.self.query.weight"
    weights["padding"] = torch.zeros(weights.pop(name).numel() * 2)
    save_file(weights, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelError, match=r"1 encoder weights missing.*layer\.1\.attention"):
        load_model(str(model_dir), "classification", 2)


def test_only_the_task_head_starts_from_random(tmp_path: Path) -> None:
    """A fine-tuned checkpoint with another label count loads: its head is replaced, nothing else."""
    source = load_model(str(make_model_dir(tmp_path, "bert")), "classification", 5)
    source.save_pretrained(tmp_path / "five-labels")
    model = load_model(str(tmp_path / "five-labels"), "classification", 2)
    assert model.config.num_labels == 2
    assert torch.equal(
        model.bert.encoder.layer[0].output.dense.weight, source.bert.encoder.layer[0].output.dense.weight
    )


def test_a_config_that_cannot_be_built_is_a_model_error(tmp_path: Path) -> None:
    """Sizing the encoder builds it (on the meta device), so a contradictory config fails there, clearly."""
    model_dir = make_model_dir(tmp_path, "bert")
    edit_json(model_dir / "config.json", num_attention_heads=33)
    with pytest.raises(ModelError, match="cannot build model"):
        load_model(str(model_dir), "classification", 2)
