"""Walking a cursor-paginated list (`data`, `has_more`, the last id as `after`) page after page."""

from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar


class _Item(Protocol):
    """Anything listed by id."""

    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=_Item)


class _Page(Protocol[ItemT]):
    """One page of a list."""

    @property
    def data(self) -> list[ItemT]: ...

    @property
    def has_more(self) -> bool: ...


def every(list_page: Callable[[str | None], _Page[ItemT]]) -> Iterator[ItemT]:
    """Every item, calling `list_page(after)` until a page says there is no more."""
    after = None
    while True:
        page = list_page(after)
        yield from page.data
        if not page.has_more or not page.data:
            return
        after = page.data[-1].id
