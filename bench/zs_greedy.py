"""`zs-greedy`: zero-shot greedy removal with one recovery fine-tune per depth, built from the engine's parts.

The order is the engine's `analyze` run on the fine-tuned full model: each round drops the candidate
whose untrained model scores best on the selection half, with no training. Depth d then costs one
fine-tune: the full model minus the first d layers of that order, fine-tuned once on the run's budget
(candidate epochs, all training examples), and scored. A depth is accepted while that recovered score
stays at or above the retention threshold; the walk stops at the first failure (or maps every depth
with `run_to_end`), as top-layer dropping does. The record also keeps the no-training depth rule:
the deepest depth whose untrained score keeps the threshold, and whether its one recovery kept it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import machine, record

if TYPE_CHECKING:
    from bench.plan import RunSpec
    from worker.pruning.types import PruneResult, RoundRecord

# Seed stage of the recovery fine-tunes: apart from the engine's baseline, candidate, repurpose and final.
RECOVERY = 4


def _recover(spec: RunSpec, analysis: PruneResult, baselines: Path, observer: record.BenchObserver) -> Any:
    """Fine-tune the full model minus each prefix of the zero-shot order once; returns rounds and models."""
    from transformers import AutoTokenizer

    from worker.pruning import baseline_cache
    from worker.pruning.data.load import load_task
    from worker.pruning.engine import resolve_device
    from worker.pruning.strategies import retained_fraction, threshold_for
    from worker.pruning.surgery import without_layers
    from worker.pruning.train import TrainRun, derive_seed, evaluate, fine_tune
    from worker.pruning.types import RoundRecord

    request = spec.request()
    hp = request.hyperparameters
    device = resolve_device(request.device)
    data = load_task(request.task, AutoTokenizer.from_pretrained(request.model), hp)
    base = baseline_cache.load(baselines, request, data.type)
    if base is None:
        raise RuntimeError(f"{spec.run_id}: the analysis left no cached baseline to recover from")
    threshold = threshold_for(analysis.baseline_score, request.retention)
    order = [r.removed_layer for r in analysis.rounds if r.removed_layer is not None]
    zero_shot_depth = len(analysis.removed_layers)
    rounds: list[RoundRecord] = []
    kept_model, rejected = base.model, False
    for depth in range(1, len(order) + 1):
        # Past the first failure only while mapping the curve or reaching the no-training depth.
        if rejected and not spec.run_to_end and depth > zero_shot_depth:
            break
        began = time.monotonic()
        model = without_layers(base.model, sorted(order[:depth]))  # the full model: positions = layers
        seed = derive_seed(hp.seed, RECOVERY, depth, 0)
        run = TrainRun(epochs=hp.candidate_epochs, seed=seed, device=device)
        examples = fine_tune(model, data, hp, run, observer=observer)
        score = evaluate(model, data.selection, data, hp, device=device)
        report = evaluate(model, data.report, data, hp, device=device)
        accepted = not rejected and score >= threshold
        rejected = rejected or not accepted
        if accepted:
            kept_model = model
        seconds = time.monotonic() - began
        observer.on_candidate(depth, order[depth - 1], score, seconds)
        rnd = RoundRecord(
            round=depth,
            layers_before=analysis.layers_total - depth + 1,
            candidates=analysis.rounds[depth - 1].candidates,  # the zero-shot scores that chose the layer
            removed_layer=order[depth - 1],
            score=score,
            report_score=report,
            retained_fraction=retained_fraction(score, analysis.baseline_score),
            accepted=accepted,
            seconds=seconds,
            train_examples=examples,
        )
        observer.on_round(rnd)
        rounds.append(rnd)
    return rounds, kept_model, base, threshold, zero_shot_depth


def zero_shot_rule(rounds: list[RoundRecord], depth: int, threshold: float) -> dict[str, Any]:
    """The no-training depth rule: its depth, the recovery score there, whether that kept the threshold."""
    if depth == 0:
        return {"layers": 0, "score": None, "retained": True, "recovery_train_examples": 0}
    there = rounds[depth - 1]
    return {
        "layers": depth,
        "score": there.score,
        "report_score": there.report_score,
        "retained": there.score >= threshold,
        "recovery_train_examples": there.train_examples,
    }


def run(spec: RunSpec, results_dir: Path, work_dir: Path, baselines: Path) -> Path:
    """Analyze, recover depth by depth, and write the run's JSON in the harness's record format."""
    from worker.pruning.engine import prune
    from worker.pruning.surgery import count_parameters

    final = results_dir / f"{spec.run_id}.json"
    header = spec.describe()
    observer = record.BenchObserver(results_dir / f"{spec.run_id}.partial.json", header)
    started = time.monotonic()
    analysis = prune(spec.request(), baseline_cache_dir=baselines)
    rounds, model, base, threshold, depth = _recover(spec, analysis, baselines, observer)
    accepted = [r for r in rounds if r.accepted]
    last = accepted[-1] if accepted else None
    recovery_examples = sum(r.train_examples for r in rounds)
    result = replace(
        analysis,
        strategy=spec.label,  # type: ignore[arg-type]
        score=last.score if last else analysis.baseline_score,
        report_score=last.report_score if last else analysis.baseline_report_score,
        retained_fraction=last.retained_fraction if last else 1.0,
        kept_layers=tuple(sorted(set(range(analysis.layers_total)) - {r.removed_layer for r in accepted})),
        removed_layers=tuple(r.removed_layer for r in accepted if r.removed_layer is not None),
        parameters_after=count_parameters(model),
        rounds=tuple(rounds),
        train_examples=analysis.train_examples + recovery_examples,
        seconds=analysis.seconds + sum(r.seconds for r in rounds),
        stopped_by="threshold" if len(accepted) < len(rounds) else "floor",
    )
    payload = record.build(
        header,
        result,
        observer,
        latency=None,
        machine=machine.describe(spec.device),
        date=machine.now(),
        harness=record.Harness(seconds=time.monotonic() - started, resumed=False, baseline_reused=True),
    )
    payload["zero_shot_rule"] = zero_shot_rule(rounds, depth, threshold)
    payload["zero_shot_rule"]["train_examples"] = base.train_examples + payload["zero_shot_rule"].pop(
        "recovery_train_examples"
    )
    payload["analysis_seconds"] = analysis.seconds
    record.write_json(final, payload)
    observer.partial_path.unlink(missing_ok=True)
    return final
