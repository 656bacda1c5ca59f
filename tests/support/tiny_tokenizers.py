"""Tiny offline tokenizers for the data-layer tests: WordPiece (BERT), byte-level BPE (RoBERTa), slow BERT."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, RobertaTokenizerFast
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

# fmt: off
WORDPIECE_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "a", "cat", "dog", "sat", "on", "mat", "good", "bad", "film", "is", "was", "not",
    "eu", "rejects", "german", "call", "peter", "lives", "in", "paris", ".", ",", '"',
    "##s", "##ed", "##ing", "un", "##like",
]
# fmt: on
BPE_CORPUS = [
    "the cat sat on the mat",
    "a dog sat",
    "EU rejects German call",
    "Peter lives in Paris .",
    "the film was good",
    "the film was not bad",
]


def write_vocab(folder: Path) -> Path:
    """Write the WordPiece vocabulary (and a config naming the BERT tokenizer); return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(WORDPIECE_VOCAB) + "\n", encoding="utf-8")
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def bert_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """A fast lower-casing WordPiece tokenizer over the tiny vocabulary."""
    tokenizer = AutoTokenizer.from_pretrained(write_vocab(folder))
    assert tokenizer.is_fast
    return tokenizer


def slow_bert_tokenizer(folder: Path) -> BertTokenizerLegacy:
    """The pure-Python BERT tokenizer over the same vocabulary: it has no word ids."""
    return BertTokenizerLegacy(vocab_file=str(write_vocab(folder) / "vocab.txt"))


def roberta_tokenizer(folder: Path) -> RobertaTokenizerFast:
    """A RoBERTa-style byte-level BPE tokenizer, without a prefix space (like roberta-base's default)."""
    folder.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(BPE_CORPUS, trainer)
    bos, eos = backend.token_to_id("<s>"), backend.token_to_id("</s>")
    assert bos is not None and eos is not None
    backend.post_processor = processors.RobertaProcessing(("</s>", eos), ("<s>", bos))
    backend.save(str(folder / "tokenizer.json"))
    return RobertaTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
