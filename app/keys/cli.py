"""`secateur keys …`: create API keys from the command line."""

import typer
from rich.console import Console

from app.core.db import session_scope
from app.core.migrate import upgrade_to_head
from app.keys.service import create_key

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
_console = Console()


@keys_app.callback()
def _keys() -> None:
    """Manage API keys (a callback keeps `keys` a group even with a single command)."""


@keys_app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A label for the key, e.g. the user's name."),
) -> None:
    """Create a key and print it once; only its hash is stored."""
    # A first `keys create` may come before the first `serve`: bring the schema up to date first.
    upgrade_to_head()
    try:
        with session_scope() as session:
            row, secret = create_key(session, name)
            key_id = row.id
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from exc
    _console.print(f"Created key [bold]{key_id}[/bold] ({name.strip()}). It will not be shown again:")
    # Plain print so the key can be piped without rich markup or wrapping.
    print(secret)
