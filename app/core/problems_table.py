"""The error table of docs/api.md, printed from the problem classes: `python -m app.core.problems_table`."""

from app.core.problems import KINDS, TYPE_PREFIX
from app.core.problems_openapi import when


def problems_table() -> str:
    """One Markdown row per problem kind, by status, then in the order the kinds are defined."""
    rows = [f"| status | `type` (`{TYPE_PREFIX}…`) | title | when |", "|---|---|---|---|"]
    for kind in sorted(KINDS, key=lambda k: k.status):
        rows.append(f"| {kind.status} | `{kind.slug}` | {kind.title} | {when(kind)} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(problems_table(), end="")
