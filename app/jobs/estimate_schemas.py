"""Response bodies of a dry run (`POST /v1/jobs` with `"dry_run": true`)."""

from typing import Literal

from pydantic import BaseModel, Field

from secateur.kernel.vocabulary import Strategy


class CostOut(BaseModel):
    """The most one strategy can cost this job."""

    strategy: Strategy
    fine_tunes: int
    train_examples: int
    seconds: float | None = Field(
        description="Training time at the measured throughput; null when none is known."
    )
    within_budget: bool | None = Field(description="Fits max_train_examples_total; null without a budget.")


class ThroughputOut(BaseModel):
    """Training throughput measured by the workers on recent finished jobs."""

    examples_per_second: float | None
    jobs: int


class JobEstimate(BaseModel):
    """The answer to a dry run: no job was created."""

    object: Literal["job.estimate"] = "job.estimate"
    strategy: Strategy
    layers: int
    train_size: int
    estimate: CostOut
    strategies: list[CostOut]
    throughput: ThroughputOut
