"""The bench tests build their tiny models with the engine tests' helpers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "worker" / "pruning"))
