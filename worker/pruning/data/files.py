"""Readers for local task files (CSV, TSV, JSON Lines, CoNLL columns) into `datasets.Dataset`s.

Sentence tasks read CSV (`.csv`), TSV (`.tsv`, or `.txt` with tabs) and JSON Lines (`.jsonl`, `.json`).
Every cell of a CSV/TSV is read as a string, so labels keep their spelling; TSVs are read with quoting
off because the GLUE files contain stray quote characters. A UTF-8 BOM before the header is dropped.

Token tasks read JSON Lines (a list of words and a list of tags per line) or CoNLL column files
(`.txt`, `.conll`): one word per line, whitespace-separated columns, a blank line between sentences,
`-DOCSTART-` lines skipped. The first column becomes `tokens`; the label field names the tag column:
`ner`, `tags` or `label` is the last column, `pos` the 2nd, `chunk` the 3rd, and `colN` column N
(0-based, so `col1` is the 2nd). The resulting dataset has the columns `tokens` and the label field.

With `max_row_bytes`, a longer line, CSV row or CoNLL sentence is refused while the file is read, so a
single huge row never reaches the parser or the tokenizer.
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
    path: Path,
    task_type: TaskType,
    *,
    label_field: str,
    column_names: tuple[str, ...] | None = None,
    max_row_bytes: int | None = None,
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
    if max_row_bytes is not None:
        check_line_sizes(path, max_row_bytes)
    if suffix in (".jsonl", ".json"):
        frame = _read_json_lines(path)
    elif task_type == "token-classification":
        return _read_conll(path, label_field, max_row_bytes)
    else:
        frame = _read_table(path, suffix, column_names)
    if frame.empty:
        raise TaskError(f"{path} has no examples")
    if max_row_bytes is not None and suffix == ".csv":
        _check_row_sizes(frame, path, max_row_bytes)  # a quoted CSV cell may span many short lines
    try:
        return Dataset.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TaskError(f"{path}: a column mixes kinds of values (e.g. numbers and text): {exc}") from exc


def _too_long(where: str, limit: int) -> TaskError:
    """The error for a row over the size limit."""
    return TaskError(f"{where} is longer than the limit of {limit} bytes per row; shorten or split it")


def check_line_sizes(path: Path, max_row_bytes: int) -> None:
    """Refuse a file with a line over `max_row_bytes`, never holding more than that much of it."""
    with path.open("rb") as handle:
        number = 0
        while line := handle.readline(max_row_bytes + 2):
            number += 1
            if len(line.rstrip(b"\r\n")) > max_row_bytes:
                raise _too_long(f"{path}, line {number}", max_row_bytes)


def _check_row_sizes(frame: pd.DataFrame, path: Path, max_row_bytes: int) -> None:
    """Refuse a table with a row whose cells add up to more than `max_row_bytes` (UTF-8)."""
    sizes = sum(frame[column].str.encode("utf-8").str.len() for column in frame.columns)
    over = sizes[sizes > max_row_bytes]
    if len(over):
        raise _too_long(f"{path}, row {int(over.index[0]) + 1}", max_row_bytes)


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


def _read_conll(path: Path, label_field: str, max_row_bytes: int | None = None) -> Dataset:
    """A CoNLL column file as sentences: `tokens` and the chosen tag column under `label_field`."""
    column = conll_column(label_field)
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    words: list[str] = []
    labels: list[str] = []
    width: int | None = None
    start, size = 0, 0  # where the current sentence began, and its bytes so far
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if fields and fields[0] == "-DOCSTART-":
                continue
            if not fields:
                if words:
                    sentences.append(words)
                    tags.append(labels)
                words, labels, size = [], [], 0
                continue
            start, size = (start if words else number), size + len(line.encode("utf-8"))
            if max_row_bytes is not None and size > max_row_bytes:
                raise _too_long(f"{path}, the sentence starting at line {start}", max_row_bytes)
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
