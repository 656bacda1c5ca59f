"""`python -m bench.profile_api`: where one API request's time goes, by pyinstrument, in one process.

The app runs in-process behind httpx's ASGI transport on a migrated SQLite (or `--database-url`)
file. FastAPI would run sync code in its threadpool, which a sampling profiler of the event loop's
thread does not see, so here threadpool calls run inline: the profile shows the request's own work,
not the cost of the thread switches (the load benchmark measures those).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
import httpx
import typer
from pyinstrument import Profiler

from bench.stack import API_KEY

cli = typer.Typer(add_completion=False, help=__doc__)


async def _inline(func: Any, *args: Any, **_kwargs: Any) -> Any:
    """anyio.to_thread.run_sync without the thread."""
    return func(*args)


async def _requests(path: str, n: int) -> Profiler:
    """Create a job, then profile `n` GETs of `path` (`{id}` becomes the job's id)."""
    from app.main import create_app

    app = create_app()
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as client,
    ):
        body = {"model": "prajjwal1/bert-tiny", "task": {"name": "rte"}, "retention": 0.9}
        job_id = (await client.post("/v1/jobs", json=body)).json()["id"]
        url = path.replace("{id}", job_id)
        for _ in range(50):  # warm up: imports, the pool's connections, pydantic's validators
            (await client.get(url)).raise_for_status()
        profiler = Profiler(async_mode="disabled", interval=0.0005)
        profiler.start()
        for _ in range(n):
            await client.get(url)
        profiler.stop()
    return profiler


@cli.command()
def main(
    path: Annotated[str, typer.Option(help="The GET to profile.")] = "/v1/jobs/{id}",
    requests: Annotated[int, typer.Option(help="How many requests to profile.")] = 1000,
    database_url: Annotated[str, typer.Option(help="Default: a fresh SQLite file.")] = "",
    html: Annotated[Path | None, typer.Option(help="Also write pyinstrument's HTML here.")] = None,
) -> None:
    """Print the profile of `requests` GETs of `path`."""
    from secateur.kernel.migrate import upgrade_to_head

    with tempfile.TemporaryDirectory(prefix="secateur-profile-") as tmp:
        url = database_url or f"sqlite:///{tmp}/profile.db"
        os.environ.update(
            SECATEUR_DATABASE_URL=url,
            SECATEUR_DATA_DIR=tmp,
            SECATEUR_BOOTSTRAP_API_KEY=API_KEY,
            # As in bench.load: the default 600/minute would answer most of the profiled GETs with 429.
            SECATEUR_RATE_LIMIT_PER_KEY="1000000/second",
        )
        upgrade_to_head(url)
        anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
        profiler = asyncio.run(_requests(path, requests))
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if html is not None:
        html.write_text(profiler.output_html())


if __name__ == "__main__":
    cli()
