"""`secateur keys …`: create API keys from the command line."""

import typer
from rich.console import Console
from rich.table import Table

from app.keys.service import create_key, list_keys, revoke_key
from secateur.kernel.db import session_scope
from secateur.kernel.migrate import upgrade_to_head

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
_console = Console()
_ID_HELP = "The key's id (key_…), as `secateur keys list` shows it."


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


@keys_app.command("list")
def list_() -> None:
    """List every key: id, name, prefix, creation time and whether it is revoked."""
    upgrade_to_head()
    with session_scope() as session:
        rows = [(row.id, row.name, row.prefix, row.created_at, row.revoked_at) for row in list_keys(session)]
    table = Table("id", "name", "prefix", "created", "revoked")
    for key_id, name, prefix, created, revoked in rows:
        table.add_row(
            key_id,
            name,
            prefix + "…",
            f"{created:%Y-%m-%d %H:%M}",
            f"{revoked:%Y-%m-%d %H:%M}" if revoked else "",
        )
    _console.print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help=_ID_HELP)) -> None:
    """Revoke a key at once: its next request is refused with 401."""
    upgrade_to_head()
    try:
        with session_scope() as session:
            row = revoke_key(session, key_id)
            name = row.name
    except LookupError as exc:
        raise typer.BadParameter(str(exc), param_hint="KEY_ID") from exc
    _console.print(f"Revoked key [bold]{key_id}[/bold] ({name}).")
