"""Layer surgery on six architectures: removal, parameter counts, renumbering, save and reload."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from tests.support.synthetic import ARCHITECTURES, make_model_dir
from worker.pruning.errors import ModelError
from worker.pruning.surgery import (
    count_parameters,
    find_layer_list,
    layer_count,
    load_model,
    remove_layers,
    without_layers,
)

INPUT = {
    "input_ids": torch.tensor([[2, 6, 29, 8, 3, 0]]),
    "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 0]]),
}


@pytest.mark.parametrize("model_type", ARCHITECTURES)
def test_remove_layer_shrinks_saves_and_reloads(model_type: str, tmp_path: Path) -> None:
    """Removing a layer drops the config count and parameters; the saved model reloads identically."""
    model = load_model(str(make_model_dir(tmp_path, model_type)), "classification", 2)
    model.eval()
    before = count_parameters(model)
    _, _, layers = find_layer_list(model)
    survivors = [layers[0], layers[2], layers[3]]
    remove_layers(model, [1])
    assert layer_count(model.config) == 3
    assert list(find_layer_list(model)[2]) == survivors
    assert count_parameters(model) < before
    assert before - count_parameters(model) == sum(p.numel() for p in layers[1].parameters())
    with torch.no_grad():
        logits = model(**INPUT).logits
    assert logits.shape == (1, 2)
    model.save_pretrained(tmp_path / "pruned", safe_serialization=True)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "pruned").eval()
    assert layer_count(reloaded.config) == 3
    assert count_parameters(reloaded) == count_parameters(model)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**INPUT).logits, logits)


def test_layer_indices_are_renumbered(tmp_path: Path) -> None:
    """Per-layer `layer_idx` attributes follow the layers' new positions."""
    model = load_model(str(make_model_dir(tmp_path, "bert")), "classification", 2)
    pruned = without_layers(model, [0, 2])
    indices = [layer.get_submodule("attention.self").layer_idx for layer in find_layer_list(pruned)[2]]
    assert indices == [0, 1]
    assert layer_count(model.config) == 4  # the original is untouched


def test_distilbert_count_goes_through_the_attribute_map(tmp_path: Path) -> None:
    """DistilBERT's `n_layers` is updated, not a stray `num_hidden_layers` field."""
    model = load_model(str(make_model_dir(tmp_path, "distilbert")), "classification", 2)
    remove_layers(model, [3])
    assert model.config.n_layers == 3
    assert model.config.to_dict()["n_layers"] == 3


def test_bad_removals_are_refused(tmp_path: Path) -> None:
    """Out-of-range positions and removing every layer raise ModelError."""
    model = load_model(str(make_model_dir(tmp_path, "bert")), "classification", 2)
    with pytest.raises(ModelError, match="out of range"):
        remove_layers(model, [4])
    with pytest.raises(ModelError, match="every layer"):
        remove_layers(model, [0, 1, 2, 3])


def test_pickled_weights_are_refused(tmp_path: Path) -> None:
    """A directory without .safetensors weights is refused before anything is unpickled."""
    model_dir = make_model_dir(tmp_path, "bert")
    for weights in model_dir.glob("*.safetensors"):
        weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(ModelError, match="safetensors"):
        load_model(str(model_dir), "classification", 2)


def test_model_without_layer_list_is_refused() -> None:
    """A model without a ModuleList of the configured length cannot be pruned."""

    class Flat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = type("C", (), {"num_hidden_layers": 3})()
            self.dense = torch.nn.Linear(2, 2)

    with pytest.raises(ModelError, match="ModuleList"):
        find_layer_list(Flat())


def test_unreadable_safetensors_weights_are_a_model_error(tmp_path: Path) -> None:
    """A `.safetensors` file that is not one raises ModelError, not the library's own error."""
    (tmp_path / "config.json").write_text('{"model_type": "bert", "num_hidden_layers": 2}')
    (tmp_path / "model.safetensors").write_bytes(b"this is not a safetensors file")
    with pytest.raises(ModelError, match="safetensors weights cannot be read"):
        load_model(str(tmp_path), "classification", num_labels=2)
