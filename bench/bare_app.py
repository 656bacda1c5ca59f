"""The yardstick for `bench.load`: a bare FastAPI app whose one endpoint does no work at all."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, str]:
    """A constant JSON object."""
    return {"status": "ok"}
