"""Shared fixtures for the engine tests: few threads, quiet transformers, tiny model directories."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers.utils import logging

from tests.support.synthetic import make_model_dir

torch.set_num_threads(1)
logging.set_verbosity_error()
logging.disable_progress_bar()


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised BERT saved like a pretrained model."""
    return make_model_dir(tmp_path_factory.mktemp("models"), "bert")
