"""HTTP routes of the webhooks API."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import CurrentKey, SessionDep, SettingsDep
from app.core.problems import AUTH_PROBLEMS, JSON_BODY_PROBLEMS, NotFound, TooManyWebhooks, ValidationFailed
from app.core.problems_openapi import problem_responses
from app.webhooks import service
from secateur.kernel.webhooks import repository
from secateur.kernel.webhooks.schemas import (
    DeliveryList,
    DeliveryStatusName,
    WebhookCreate,
    WebhookCreated,
    WebhookDeleted,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=problem_responses(*AUTH_PROBLEMS))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=problem_responses(*JSON_BODY_PROBLEMS, TooManyWebhooks),
)
def create_webhook(
    body: WebhookCreate, key: CurrentKey, session: SessionDep, settings: SettingsDep
) -> WebhookCreated:
    """Register an endpoint for job events; the answer carries its signing secret, shown only this once."""
    endpoint = service.create(session, settings, key.id, body)
    return WebhookCreated.model_validate(endpoint)


@router.get("", response_model=WebhookList)
def list_webhooks(key: CurrentKey, session: SessionDep) -> WebhookList:
    """The caller's endpoints, newest first (a key has at most a handful, so one page)."""
    rows = repository.list_owned(session, key.id)
    return WebhookList(data=[WebhookOut.model_validate(e) for e in rows], has_more=False)


@router.get("/{endpoint_id}", response_model=WebhookOut, responses=problem_responses(NotFound))
def get_webhook(endpoint_id: str, key: CurrentKey, session: SessionDep) -> WebhookOut:
    """One endpoint: its filter, whether it is enabled, and why not."""
    return WebhookOut.model_validate(service.get(session, key.id, endpoint_id))


@router.patch(
    "/{endpoint_id}", response_model=WebhookOut, responses=problem_responses(*JSON_BODY_PROBLEMS, NotFound)
)
def update_webhook(
    endpoint_id: str, body: WebhookUpdate, key: CurrentKey, session: SessionDep, settings: SettingsDep
) -> WebhookOut:
    """Change the URL, events or description, or enable/disable it (enabling resets the failure count)."""
    return WebhookOut.model_validate(
        service.update(session, settings=settings, owner_id=key.id, endpoint_id=endpoint_id, body=body)
    )


@router.delete("/{endpoint_id}", response_model=WebhookDeleted, responses=problem_responses(NotFound))
def delete_webhook(endpoint_id: str, key: CurrentKey, session: SessionDep) -> WebhookDeleted:
    """Remove the endpoint with its deliveries; nothing more is sent to it."""
    service.delete(session, key.id, endpoint_id)
    return WebhookDeleted(id=endpoint_id)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryList,
    responses=problem_responses(NotFound, ValidationFailed),
)
def list_deliveries(
    endpoint_id: str,
    key: CurrentKey,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
    status: DeliveryStatusName | None = None,
) -> DeliveryList:
    """The endpoint's deliveries, newest first, each with every attempt (status code, error, duration)."""
    rows, has_more = service.deliveries(
        session, owner_id=key.id, endpoint_id=endpoint_id, limit=limit, after=after, status=status
    )
    return DeliveryList(data=rows, has_more=has_more)
