"""Routes of the web page: the job list and one job, as HTML shells; the data comes from /v1 via fetch().

The pages hold no data and need no key: the browser keeps the key in sessionStorage and sends it as
the Authorization header of each API call, so it is never in a URL, a cookie or a server log.
"""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
static = StaticFiles(directory=HERE / "static")

# Everything the page uses ships with the package: no CDN, nothing inline, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/ui", include_in_schema=False)


def _page(request: Request, template: str, **context: object) -> HTMLResponse:
    """Render one page with the security headers."""
    return templates.TemplateResponse(request, template, context, headers=SECURITY_HEADERS)


@router.get("", response_class=HTMLResponse)
def jobs_page(request: Request) -> HTMLResponse:
    """The list of the signed-in key's jobs."""
    return _page(request, "jobs.html", page="jobs")


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str) -> HTMLResponse:
    """One job: status, live progress, the pruning curve, the heat-map and the downloads."""
    return _page(request, "job.html", page="job", job_id=job_id)


@router.get("/", include_in_schema=False)
def trailing_slash() -> RedirectResponse:
    """`/ui/` is `/ui`."""
    return RedirectResponse("/ui", status_code=308)
