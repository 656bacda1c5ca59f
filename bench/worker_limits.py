"""The security probe's worker cases, measured in this process: `python -m bench.worker_limits`.

For each case it prints how the worker's checks answered, how long that took and how much the process's
peak RSS grew during the check (each case in a fresh subprocess, so one case's memory does not hide the next):

- `vocab`: a 283-byte-style model whose config asks for `vocab_size` 300 000 (refused by the bound);
- `random-bert`: `{"model_type": "bert"}` with one tiny tensor (refused from the safetensors header);
- `long-row`: a dataset with one `--row-mib` row (refused while reading, before tokenizing).
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _model_dir(root: Path, config: dict[str, object]) -> Path:
    """A model folder with this config and a single 4-number tensor."""
    import torch
    from safetensors.torch import save_file

    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps(config))
    save_file({"x": torch.zeros(4)}, str(root / "model.safetensors"))
    return root


def _prepare(name: str, row_mib: int) -> Callable[[], object]:
    """Write the case's input and return the check to measure; imports happen here, outside the figures."""
    import transformers.models.bert.modeling_bert  # noqa: F401  # the import is not the check's cost

    from worker.pruning.data.files import read_task_file
    from worker.pruning.surgery import load_model
    from worker.pruning.types import InputLimits

    limits = InputLimits(250_000, 4096, 48, 16_384, 8192, 64 * 1024)
    root = Path(tempfile.mkdtemp())
    if name == "long-row":
        path = root / "train.csv"
        with path.open("w") as handle:
            handle.write("text,label\nshort,yes\n")
            for _ in range(row_mib):
                handle.write("w " * (512 * 1024))
            handle.write(",no\n")
        return lambda: read_task_file(
            path, "classification", label_field="label", max_row_bytes=limits.max_row_bytes
        )
    config: dict[str, object] = {"model_type": "bert"}
    if name == "vocab":
        config["vocab_size"] = 300_000
    model = str(_model_dir(root / "m", config))
    return lambda: load_model(model, "classification", 2, limits=limits)


def main() -> None:
    """Run each case in a fresh interpreter and print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--row-mib", type=int, default=50)
    args = parser.parse_args()
    if args.case:
        from worker.pruning.errors import PruningError

        check = _prepare(args.case, args.row_mib)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        try:
            check()
            outcome = "accepted"
        except PruningError as exc:
            outcome = f"{exc.code}: {str(exc)[:100]}"
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(f"{args.case:12} {time.monotonic() - started:6.2f} s  +{grown:6.0f} MiB  {outcome}")
        return
    for case in ("vocab", "random-bert", "long-row"):
        command = [sys.executable, "-m", "bench.worker_limits", "--case", case]
        subprocess.run([*command, "--row-mib", str(args.row_mib)], check=True)


if __name__ == "__main__":
    main()
