"""The words the API and the engine share: strategies, task names, baseline modes, queues and id shapes.

Standard library only, so the engine reads it without pydantic and the API without torch.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final, Literal, get_args

Strategy = Literal["aglp", "aglp-shortlist", "glp", "top", "analyze"]
STRATEGIES: Final[tuple[Strategy, ...]] = get_args(Strategy)

# A job's states, as the API shows them; `secateur.kernel.models.JobStatus` is the same set as an enum.
JobStatusName = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]
JOB_STATUSES: Final[tuple[JobStatusName, ...]] = get_args(JobStatusName)
TERMINAL_STATUSES: Final[frozenset[JobStatusName]] = frozenset({"succeeded", "failed", "cancelled"})
# The events written with a terminal status: a follower of the event stream stops at one of them.
TERMINAL_EVENTS: Final = frozenset({"job.succeeded", "job.failed", "job.cancelled"})
# These strategies build every round from the pretrained weights, so a fine-tuned start has no place;
# the others walk from the previous round's model.
FROM_PRETRAINED: Final[tuple[Strategy, ...]] = ("glp", "top")
DEFAULT_STRATEGY: Final[Strategy] = "aglp-shortlist"  # see docs/engine.md, "Choosing the strategy"

# "fine-tune": pretrained encoder + fresh head, fine-tuned (the paper). "as-is": the model is already
# fine-tuned for this task; its head is kept and scored without training.
BaselineMode = Literal["fine-tune", "as-is"]
BASELINE_MODES: Final[tuple[BaselineMode, ...]] = get_args(BaselineMode)
DEFAULT_BASELINE: Final[BaselineMode] = "fine-tune"

TaskType = Literal["classification", "regression", "token-classification"]
TASK_TYPES: Final[tuple[TaskType, ...]] = get_args(TaskType)

# The paper's seven tasks, with their standard train split sizes (the smaller count where the GLUE files
# and the hub differ, so a budget the API refuses is too small for certain).
BUILTIN_TRAIN_SIZES: Final = MappingProxyType(
    {
        "sst2": 67349,
        "cola": 8551,
        "mrpc": 3667,
        "rte": 2490,
        "stsb": 5749,
        "conll2003-ner": 14041,
        "conll2003-pos": 14041,
    }
)
BUILTIN_TASKS: Final[tuple[str, ...]] = tuple(BUILTIN_TRAIN_SIZES)
TASK_ALIASES: Final = MappingProxyType(
    {
        "sst-2": "sst2", "sst_2": "sst2", "sst": "sst2",
        "sts-b": "stsb", "sts_b": "stsb", "sts": "stsb",
        "conll2003": "conll2003-ner", "conll2003_ner": "conll2003-ner", "conll-ner": "conll2003-ner",
        "conll": "conll2003-ner", "ner": "conll2003-ner",
        "conll2003_pos": "conll2003-pos", "conll-pos": "conll2003-pos", "pos": "conll2003-pos",
    }
)  # fmt: skip


def canonical_task_name(name: str) -> str:
    """The built-in task `name` or its alias stands for (any case); ValueError naming the known tasks."""
    key = name.strip().lower()
    canonical = TASK_ALIASES.get(key, key)
    if canonical not in BUILTIN_TRAIN_SIZES:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(BUILTIN_TASKS)}")
    return canonical


# The deepest model a request may describe: bounds protected layer indices, target_layers and a dry
# run's layer count before any model is read (the worker's own limit is usually far lower).
MAX_LAYERS: Final = 4096

# A model is a hub id ("org/name" or "name") or an uploaded file's id.
FILE_PREFIX: Final = "file_"
_HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
HUB_ID: Final = re.compile(rf"^{_HUB_PART}(?:/{_HUB_PART})?$")


def is_hub_id(value: str) -> bool:
    """Whether `value` is a well-formed hub id; `..` is refused so an id never reads as a path."""
    return ".." not in value and HUB_ID.fullmatch(value) is not None


# Celery task names and queues: the API publishes to them by name, the worker defines and consumes them.
RUN_JOB: Final = "secateur.run_job"
SCORE_CANDIDATE: Final = "secateur.score_candidate"
RECONCILE: Final = "secateur.reconcile"
DELIVER_WEBHOOK: Final = "secateur.deliver_webhook"
SWEEP_WEBHOOKS: Final = "secateur.sweep_webhooks"
GPU_QUEUE: Final = "gpu"
MAINTENANCE_QUEUE: Final = "maintenance"
WEBHOOK_QUEUE: Final = "webhooks"
