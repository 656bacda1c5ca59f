"""Readers for local task files (CSV, TSV, JSON Lines, CoNLL columns) into `datasets.Dataset`s.

Sentence tasks read CSV (`.csv`), TSV (`.tsv`, or `.txt` with tabs) and JSON Lines (`.jsonl`, `.json`).
Every cell of a CSV/TSV is read as a string, so labels keep their spelling; TSVs are read with quoting
off because the GLUE files contain stray quote characters. A UTF-8 BOM before the header is dropped.

Token tasks read JSON Lines (a list of words and a list of tags per line) or CoNLL column files
(`.txt`, `.conll`): one word per line, whitespace-separated columns, a blank line between sentences,
`-DOCSTART-` lines skipped. The first column becomes `tokens`; the label field names the tag column:
`ner`, `tags` or `label` is the last column, `pos` the 2nd, `chunk` the 3rd, and `colN` column N
(0-based, so `col1` is the 2nd). The resulting dataset has the columns `tokens` and the label field.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
from datasets import Dataset

from worker.pruning.errors import TaskError
from worker.pruning.types import TaskType

SENTENCE_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json")
TOKEN_SUFFIXES = (".txt", ".conll", ".jsonl", ".json")
_NAMED_COLUMNS = {"ner": -1, "tags": -1, "label": -1, "pos": 1, "chunk": 2}


def read_task_file(
    path: Path, task_type: TaskType, label_field: str, column_names: tuple[str, ...] | None = None
) -> Dataset:
    """Read one local file of a task; `column_names` names the columns of a header-less table."""
    if not path.is_file():
        raise TaskError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    allowed = TOKEN_SUFFIXES if task_type == "token-classification" else SENTENCE_SUFFIXES
    if suffix not in allowed:
        raise TaskError(
            f"{path}: unsupported file extension {suffix or '(none)'!r} for a {task_type} task; "
            f"use one of {', '.join(allowed)}"
        )
    if path.stat().st_size == 0:
        raise TaskError(f"{path} is empty")
    if suffix in (".jsonl", ".json"):
        frame = _read_json_lines(path)
    elif task_type == "token-classification":
        return _read_conll(path, label_field)
    else:
        frame = _read_table(path, suffix, column_names)
    if frame.empty:
        raise TaskError(f"{path} has no examples")
    try:
        return Dataset.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TaskError(f"{path}: a column mixes kinds of values (e.g. numbers and text): {exc}") from exc


def _read_table(path: Path, suffix: str, column_names: tuple[str, ...] | None) -> pd.DataFrame:
    """A CSV or TSV file as a frame of strings."""
    if suffix == ".txt" and "\t" not in _first_line(path):
        raise TaskError(f"{path}: a .txt file for a sentence task must be tab-separated (found no tab)")
    tab = suffix in (".tsv", ".txt")
    try:
        frame = pd.read_csv(
            path,
            sep="\t" if tab else ",",
            quoting=csv.QUOTE_NONE if tab else csv.QUOTE_MINIMAL,
            encoding="utf-8-sig",
            dtype=str,
            keep_default_na=False,  # "NA" stays a string; empty labels are caught later, with a clear error
            header=None if column_names else "infer",
            names=list(column_names) if column_names else None,
        )
    except pd.errors.EmptyDataError as exc:
        raise TaskError(f"{path} is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise TaskError(f"{path} could not be parsed: {exc}") from exc
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame


def _read_json_lines(path: Path) -> pd.DataFrame:
    """A JSON Lines file as a frame, values kept as parsed (no dtype guessing)."""
    try:
        return pd.read_json(path, lines=True, dtype=False, convert_dates=False, encoding="utf-8-sig")
    except ValueError as exc:
        raise TaskError(f"{path} is not valid JSON Lines (one JSON object per line): {exc}") from exc


def _first_line(path: Path) -> str:
    """The first line of a text file."""
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        return handle.readline()


def conll_column(label_field: str) -> int:
    """The column index a CoNLL label field names (see the module docstring)."""
    key = label_field.strip().lower()
    if key in _NAMED_COLUMNS:
        return _NAMED_COLUMNS[key]
    match = re.fullmatch(r"col(\d+)", key)
    if match and int(match.group(1)) >= 1:
        return int(match.group(1))
    raise TaskError(
        f"label field {label_field!r} names no CoNLL tag column; use ner/tags/label (last column), "
        "pos (2nd), chunk (3rd) or colN (column N, 0-based, N >= 1)"
    )


def _read_conll(path: Path, label_field: str) -> Dataset:
    """A CoNLL column file as sentences: `tokens` and the chosen tag column under `label_field`."""
    column = conll_column(label_field)
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    words: list[str] = []
    labels: list[str] = []
    width: int | None = None
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if fields and fields[0] == "-DOCSTART-":
                continue
            if not fields:
                if words:
                    sentences.append(words)
                    tags.append(labels)
                words, labels = [], []
                continue
            width = width or len(fields)
            if len(fields) != width or len(fields) < 2:
                raise TaskError(
                    f"{path}, line {number}: expected {max(width, 2)} whitespace-separated columns "
                    f"(word and tags), found {len(fields)}"
                )
            if not -width <= column < width:
                raise TaskError(
                    f"{path}: label field {label_field!r} asks for column {column}, "
                    f"but the file has {width} columns"
                )
            words.append(fields[0])
            labels.append(fields[column])
    if words:
        sentences.append(words)
        tags.append(labels)
    if not sentences:
        raise TaskError(f"{path} has no sentences")
    return Dataset.from_dict({"tokens": sentences, label_field: tags})
