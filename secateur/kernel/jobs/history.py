"""The JSON shape of what a job leaves as it runs: rounds with their candidates, events, kept depths."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class CandidateOut(BaseModel):
    """One candidate layer of a round: fine-tuned score (null when not fine-tuned) and zero-shot figures."""

    layer: int
    score: float | None
    zero_shot_score: float | None = None
    zero_shot_loss: float | None = None
    block_influence: float | None = None


class RoundOut(BaseModel):
    """One pruning round."""

    round: int
    layers_before: int
    candidates: list[CandidateOut]
    removed_layer: int | None
    score: float | None
    report_score: float | None
    retained_fraction: float | None
    accepted: bool
    seconds: float
    train_examples: int
    zero_shot_top: bool | None = None
    kendall_tau: float | None = None


class RoundList(BaseModel):
    """Every finished round, in order."""

    object: Literal["list"] = "list"
    data: list[RoundOut]


class EventOut(BaseModel):
    """One line of a job's event log."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    message: str
    data: dict[str, Any]
    created_at: datetime


class EventList(BaseModel):
    """A page of events, oldest first; pass the last id as `after` to continue."""

    object: Literal["list"] = "list"
    data: list[EventOut]
    has_more: bool


class DepthOut(BaseModel):
    """One accepted depth: the model after an accepted round, and where to download it."""

    layers: int
    round: int
    kept_layers: list[int]
    score: float
    report_score: float
    parameters: int
    bytes: int
    sha256: str
    latency_ms: float | None
    device: str | None
    available: bool
    url: str | None


class DepthList(BaseModel):
    """Every accepted depth of a job, deepest (fewest layers removed) first."""

    object: Literal["list"] = "list"
    data: list[DepthOut]
