"""A dataset row over the byte limit is a clear invalid_dataset, found while reading, before tokenising."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.pruning.data.files import read_task_file
from worker.pruning.errors import TaskError

LIMIT = 100


def test_a_long_csv_line_is_refused_naming_its_line(tmp_path: Path) -> None:
    """The third line is too long; the message says which, and the limit."""
    path = tmp_path / "train.csv"
    path.write_text("text,label\nshort,yes\n" + "w " * 200 + ",no\nfine,no\n")
    with pytest.raises(TaskError, match=r"train.csv, line 3 is longer than the limit of 100 bytes per row"):
        read_task_file(path, "classification", label_field="label", max_row_bytes=LIMIT)


def test_a_quoted_csv_row_spanning_many_short_lines_is_refused(tmp_path: Path) -> None:
    """Every physical line is short, but the row's cell adds up to more than the limit."""
    cell = "\n".join(["w1 w2 w3"] * 30)
    path = tmp_path / "train.csv"
    path.write_text(f'text,label\nshort,yes\n"{cell}",no\n')
    with pytest.raises(TaskError, match=r"train.csv, row 2 is longer than the limit"):
        read_task_file(path, "classification", label_field="label", max_row_bytes=LIMIT)


def test_a_long_json_line_is_refused(tmp_path: Path) -> None:
    """JSON Lines: one object per line, so the line is the row."""
    path = tmp_path / "train.jsonl"
    rows = [{"text": "ok", "label": "yes"}, {"text": "x" * 500, "label": "no"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(TaskError, match=r"train.jsonl, line 2 is longer"):
        read_task_file(path, "classification", label_field="label", max_row_bytes=LIMIT)


def test_a_long_conll_sentence_is_refused_naming_where_it_starts(tmp_path: Path) -> None:
    """Short word lines add up to a sentence over the limit."""
    path = tmp_path / "train.txt"
    path.write_text("a O\nb O\n\n" + "".join(f"word{i} O\n" for i in range(40)))
    with pytest.raises(TaskError, match=r"train.txt, the sentence starting at line 4 is longer"):
        read_task_file(path, "token-classification", label_field="ner", max_row_bytes=LIMIT)


def test_rows_within_the_limit_read_as_before(tmp_path: Path) -> None:
    """A line of exactly the limit (newline aside) is fine; no limit reads anything."""
    path = tmp_path / "train.csv"
    line = "x" * (LIMIT - 3) + ",no"
    path.write_text(f"text,label\r\n{line}\r\nok,yes\r\n")
    assert len(read_task_file(path, "classification", label_field="label", max_row_bytes=LIMIT)) == 2
    long = tmp_path / "long.csv"
    long.write_text("text,label\n" + "w " * 5000 + ",no\n")
    assert len(read_task_file(long, "classification", label_field="label")) == 1
