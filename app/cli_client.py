"""`secateur files …` and `secateur jobs …`: the HTTP API from a terminal, through app.client.

Exit codes: 0 success; 1 the job failed or was cancelled (`jobs wait`, `jobs submit --wait`);
2 bad usage (an unknown flag, a missing file or key); 3 the API refused the request (its
problem+json is printed); 4 the API could not be reached; 5 a download failed its sha256 check or
could not be unpacked safely; 130 Ctrl-C while following a job (the job goes on).
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, cast

import typer
import yaml
from rich.console import Console

from app.cli_render import job_table, jobs_table, print_json, print_problem, print_table, rounds_table
from app.cli_wait import follow
from app.client import DEFAULT_URL, ApiError, SecateurClient
from app.client.models import Purpose

EXIT_JOB_FAILED, EXIT_USAGE, EXIT_API, EXIT_UNREACHABLE, EXIT_DOWNLOAD, EXIT_INTERRUPTED = 1, 2, 3, 4, 5, 130
DOWNLOAD_PROBLEMS = frozenset({"checksum-mismatch", "unsafe-archive"})

files_app = typer.Typer(help="Upload and list files.", no_args_is_help=True)
jobs_app = typer.Typer(
    help="Submit, follow, inspect, download and cancel pruning jobs.", no_args_is_help=True
)
out = Console()  # data: ids, tables, JSON
err = Console(stderr=True, soft_wrap=True)  # messages, progress and problems; never wrapped mid-path

Url = Annotated[str, typer.Option("--url", envvar="SECATEUR_URL", help="The API's base URL.")]
Key = Annotated[
    str | None,
    typer.Option("--api-key", envvar="SECATEUR_API_KEY", help="Your API key.", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]


def make_client(url: str, api_key: str) -> SecateurClient:
    """The client the commands use (tests replace it with one on the in-process app)."""
    return SecateurClient(url, api_key)


@contextmanager
def connect(url: str, api_key: str | None) -> Iterator[SecateurClient]:
    """A client for one command; an API error becomes a readable message and its exit code."""
    if not api_key:
        err.print("[bold red]Error:[/] no API key: pass --api-key or set SECATEUR_API_KEY.")
        raise typer.Exit(EXIT_USAGE)
    client = make_client(url, api_key)
    try:
        yield client
    except ApiError as exc:
        print_problem(err, exc)
        if exc.code == "unreachable":
            raise typer.Exit(EXIT_UNREACHABLE) from exc
        raise typer.Exit(EXIT_DOWNLOAD if exc.code in DOWNLOAD_PROBLEMS else EXIT_API) from exc
    finally:
        client.close()


@files_app.callback()
def _files() -> None:
    """Upload and list files."""


@files_app.command("upload")
def upload(
    path: Annotated[
        Path, typer.Argument(exists=True, help="A model directory or archive, or a dataset file.")
    ],
    purpose: Annotated[
        str | None, typer.Option(help="model or dataset (default: a directory or archive is a model).")
    ] = None,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Upload a file and print its id; a model directory is packed to .tar.gz on the way."""
    if purpose not in (None, "model", "dataset"):
        raise typer.BadParameter("expected 'model' or 'dataset'", param_hint="--purpose")
    with connect(url, api_key) as client:
        uploaded = client.files.upload(path, cast(Purpose | None, purpose))
    err.print(f"Uploaded {uploaded.filename} ({uploaded.purpose}, {uploaded.bytes:,} bytes)")
    print(uploaded.id)


@files_app.command("list")
def list_files(limit: int = 20, url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """Your most recent files."""
    with connect(url, api_key) as client:
        for f in client.files.list(limit=limit).data:
            out.print(f"{f.id}  {f.purpose:8} {f.bytes:>12,}  {f.filename}", highlight=False)


@jobs_app.callback()
def _jobs() -> None:
    """Submit, follow, inspect, download and cancel pruning jobs."""


def _value(text: str) -> Any:
    """A flag value as JSON when it parses (numbers, null, true), else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: list[str], flag: str) -> dict[str, Any]:
    """`name=value` flags as a dict."""
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected name=value, got {item!r}", param_hint=flag)
        pairs[name.strip()] = value
    return pairs


def _reference(client: SecateurClient, value: str, purpose: Purpose) -> str:
    """A local path is uploaded first and replaced by its file id; anything else is sent as it is."""
    path = Path(value).expanduser()
    if value.startswith("file_") or not path.exists():
        return value
    uploaded = client.files.upload(path, purpose)
    err.print(f"Uploaded {path} as {uploaded.id}")
    return uploaded.id


def _load_spec(path: Path | None) -> dict[str, Any]:
    """The job body from a JSON or YAML file (YAML reads JSON too)."""
    if path is None:
        return {}
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{path} is not valid JSON or YAML: {exc}", param_hint="--file") from exc
    if not isinstance(spec, dict):
        raise typer.BadParameter(f"{path} must hold an object (the job body)", param_hint="--file")
    return spec


@jobs_app.command("submit")
def submit(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", exists=True, help="A JSON or YAML job body.")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="A file id, a hub id, or a local model to upload.")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="A built-in task: sst2, cola, mrpc, rte, stsb, ...")
    ] = None,
    task_type: Annotated[
        str | None, typer.Option("--type", help="classification, regression or token-classification.")
    ] = None,
    train: Annotated[str | None, typer.Option(help="Train file id, or a local file to upload.")] = None,
    validation: Annotated[str | None, typer.Option(help="Validation file id, or a local file.")] = None,
    text_field: Annotated[list[str] | None, typer.Option(help="Text column (once or twice).")] = None,
    label_field: Annotated[str | None, typer.Option(help="Label column.")] = None,
    metric: Annotated[str | None, typer.Option(help="The metric to select and report on.")] = None,
    retention: Annotated[float | None, typer.Option(help="Share of the full model's score to keep.")] = None,
    strategy: Annotated[str | None, typer.Option(help="aglp, glp or top.")] = None,
    hp: Annotated[list[str] | None, typer.Option("--hp", help="A hyperparameter, name=value.")] = None,
    metadata: Annotated[list[str] | None, typer.Option("--metadata", help="name=value to keep.")] = None,
    allow_weak_baseline: Annotated[
        bool | None, typer.Option("--allow-weak-baseline", help="Prune even a full model near chance.")
    ] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Replays return the same job.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Then follow it until it ends.")] = False,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Submit a job from flags and/or a JSON/YAML file (flags win) and print its id."""
    body = _load_spec(file)
    top: dict[str, Any] = {"model": model, "retention": retention, "strategy": strategy}
    top["allow_weak_baseline"] = allow_weak_baseline
    body.update({k: v for k, v in top.items() if v is not None})
    spec_task: dict[str, Any] = {"name": task} if task is not None else dict(body.get("task") or {})
    custom: dict[str, Any] = {"type": task_type, "train_file": train, "validation_file": validation}
    custom |= {"text_fields": text_field or None, "label_field": label_field, "metric": metric}
    body["task"] = spec_task | {k: v for k, v in custom.items() if v is not None}
    if hp:
        hyperparameters = {k: _value(v) for k, v in _pairs(hp, "--hp").items()}
        body["hyperparameters"] = {**body.get("hyperparameters", {}), **hyperparameters}
    if metadata:
        body["metadata"] = {**body.get("metadata", {}), **_pairs(metadata, "--metadata")}
    with connect(url, api_key) as client:
        if isinstance(body.get("model"), str):
            body["model"] = _reference(client, body["model"], "model")
        for field in ("train_file", "validation_file"):
            if isinstance(body["task"].get(field), str):
                body["task"][field] = _reference(client, body["task"][field], "dataset")
        job = client.jobs.submit(body, idempotency_key=idempotency_key)
        err.print(f"Submitted {job.id} ({job.status})")
        print(job.id, flush=True)
        if wait:
            _follow(client, job.id)


def _follow(client: SecateurClient, job_id: str) -> None:
    """Follow the job live and report how it ended; Ctrl-C stops watching, not the job (exit 130)."""
    try:
        job = follow(client, job_id, err)
    except KeyboardInterrupt:
        err.print(f"Stopped watching {job_id}; it goes on (`secateur jobs cancel {job_id}` stops it).")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _finish(job)


def _finish(job: Any) -> None:
    """Say how the job ended; a failed or cancelled job exits 1."""
    if job.status == "succeeded":
        assert job.result is not None
        err.print(
            f"[green]succeeded[/]: removed {job.result.layers_removed} layers {job.result.removed_layers}, "
            f"score {job.result.score:.4f}"
        )
        return
    reason = f": {job.error.code}: {job.error.message}" if job.error else ""
    err.print(f"[red]{job.status}[/]{reason}", highlight=False)
    raise typer.Exit(EXIT_JOB_FAILED)


@jobs_app.command("list")
def list_jobs(
    limit: int = 20,
    after: str | None = None,
    as_json: Json = False,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Your jobs, newest first."""
    with connect(url, api_key) as client:
        page = client.jobs.list(limit=limit, after=after)
    if as_json:
        print_json(out, page.model_dump(mode="json"))
        return
    print_table(out, jobs_table(page.data))
    if page.has_more:
        err.print(f"More: --after {page.data[-1].id}")


@jobs_app.command("show")
def show(job_id: str, as_json: Json = False, url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """One job: status, progress, result or error."""
    with connect(url, api_key) as client:
        job = client.jobs.get(job_id)
    if as_json:
        print_json(out, job.model_dump(mode="json"))
    else:
        print_table(out, job_table(job))


@jobs_app.command("wait")
def wait(job_id: str, url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """Follow a job live until it ends; exits 1 if it failed or was cancelled."""
    with connect(url, api_key) as client:
        _follow(client, job_id)


@jobs_app.command("rounds")
def rounds(job_id: str, as_json: Json = False, url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """Every round's candidate scores; the layer each round removed is starred."""
    with connect(url, api_key) as client:
        data = client.jobs.rounds(job_id)
    if as_json:
        print_json(out, [r.model_dump(mode="json") for r in data])
    else:
        print_table(out, rounds_table(data))


@jobs_app.command("download")
def download(
    job_id: str,
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="Default: <job id>.tar.gz.")] = None,
    unpack: Annotated[Path | None, typer.Option(help="Also unpack the model into this directory.")] = None,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Download the pruned model (resuming a partial download), verify its sha256, optionally unpack it."""
    with connect(url, api_key) as client:
        got = client.jobs.download(job_id, out_path or Path(f"{job_id}.tar.gz"), unpack)
    resumed = f", resumed at byte {got.resumed_from:,}" if got.resumed_from else ""
    err.print(f"Saved {got.path} ({got.bytes:,} bytes, sha256 verified{resumed})")
    if got.unpacked_to is not None:
        err.print(f"Unpacked into {got.unpacked_to}")


@jobs_app.command("cancel")
def cancel(job_id: str, url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """Cancel a job: at once while queued, at the worker's next check while running."""
    with connect(url, api_key) as client:
        job = client.jobs.cancel(job_id)
    err.print(f"{job.id}: {job.status}")
