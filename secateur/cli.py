"""The `secateur` command: serve, keys, prune, analyze, files, jobs; heavy imports inside each command."""

import typer

from app.cli_client import files_app, jobs_app
from app.keys.cli import keys_app
from secateur.serve import serve

cli = typer.Typer(name="secateur", help="Layer pruning as a service.", no_args_is_help=True)
cli.add_typer(keys_app, name="keys", help="Create and manage API keys.")
cli.add_typer(
    files_app, name="files", help="Upload files to a Secateur API (SECATEUR_URL, SECATEUR_API_KEY)."
)
cli.add_typer(jobs_app, name="jobs", help="Submit and follow jobs on a Secateur API.")


def _add_worker_commands() -> None:
    """serve, prune and analyze, where the worker package is installed (the API image ships without it)."""
    try:
        from worker.pruning.cli import prune
        from worker.pruning.cli_analyze import analyze
    except ModuleNotFoundError as missing:
        if missing.name != "worker":
            raise
        return
    cli.command(help="Run the API and the local job runner (SQLite under ./data, no Redis needed).")(serve)
    cli.command(help="Prune a model locally, without the service.")(prune)
    cli.command(help="Map each layer's zero-shot sensitivity locally, fine-tuning only the full model.")(
        analyze
    )


_add_worker_commands()


def main() -> None:
    """Console-script entry point."""
    cli()
