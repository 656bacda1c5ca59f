"""JSON responses rendered by pydantic's own serializer."""

from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """`model` as a JSON response.

    A sync endpoint that returns a model has FastAPI validate it again in the threadpool, one more
    thread switch per request; returning the serialized body skips that (the route's
    `response_model` still documents it).
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
