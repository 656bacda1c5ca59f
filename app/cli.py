"""The `secateur` command: serve, keys, prune, analyze; heavy imports happen inside each command."""

import typer

from app.keys.cli import keys_app
from worker.pruning.cli import prune
from worker.pruning.cli_analyze import analyze
from worker.serve import serve

cli = typer.Typer(name="secateur", help="Layer pruning as a service.", no_args_is_help=True)
cli.add_typer(keys_app, name="keys", help="Create and manage API keys.")
cli.command(help="Run the API and the local job runner (SQLite under ./data, no Redis needed).")(serve)
cli.command(help="Prune a model locally, without the service.")(prune)
cli.command(help="Map each layer's zero-shot sensitivity locally, fine-tuning only the full model.")(analyze)


def main() -> None:
    """Console-script entry point."""
    cli()
