"""The web page in a real headless Chromium: sign in, a finished job's charts, a running job going live."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from secateur.kernel.models import Job
from tests.app.ui.conftest import Live
from tests.support.ui_arrange import add_round, finish, real_run, running_job

WAIT_MS = 20_000  # the page polls every 2 s without server-sent events
SCREENSHOTS = os.environ.get("SECATEUR_UI_SCREENSHOTS")  # a folder: save the docs' screenshots there


def sign_in(page: Any, live: Live, key: str | None = None) -> None:
    """Open the job list and sign in through the form."""
    page.goto(f"{live.url}/ui")
    page.fill("#api-key", key or live.key)
    page.click("#sign-in-form button")


def test_sign_in_keeps_the_key_in_the_tab_and_out_of_urls(page: Any, live: Live) -> None:
    """A wrong key is refused with the API's message; the right one lists the jobs; sign-out forgets it."""
    with live.sessions() as session:
        job = running_job(session, live.owner_id, rounds=1)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    sign_in(page, live, key="sk-sec-wrong")
    expect(page.locator("#sign-in-error")).to_contain_text("invalid or has been revoked")
    sign_in(page, live)
    expect(page.locator(f"#jobs tr[data-job-id='{job.id}']")).to_contain_text("running")
    assert page.evaluate("sessionStorage.getItem('secateur.apiKey')") == live.key
    assert not any(live.key in url for url in requests)
    page.reload()  # still signed in within the tab
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    page.click(f"#jobs tr[data-job-id='{job.id}'] a")
    expect(page.locator("#job-status")).to_have_text("running")
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('secateur.apiKey')") is None


def test_a_finished_job_shows_its_curve_heatmap_and_download(page: Any, live: Live, tmp_path: Path) -> None:
    """The real SST-2 run: 6 curve points (one below the threshold), 20 candidate cells, 5 winners."""
    archive = b"pruned model archive"
    (tmp_path / "model.tar.gz").write_bytes(archive)
    live.storage.put_file("artifacts/x/model.tar.gz", tmp_path / "model.tar.gz")
    with live.sessions() as session:
        job = running_job(session, live.owner_id, rounds=5)
        finish(
            session, job.id, ("artifacts/x/model.tar.gz", len(archive), hashlib.sha256(archive).hexdigest())
        )
    sign_in(page, live)
    page.goto(f"{live.url}/ui/jobs/{job.id}")
    expect(page.locator("#job-status")).to_have_text("succeeded")
    expect(page.locator("#curve circle.point")).to_have_count(6)
    expect(page.locator("#curve circle.point.rejected")).to_have_count(1)
    expect(page.locator("#curve line.threshold")).to_have_count(1)
    expect(page.locator("#curve polyline.report")).to_have_count(1)
    threshold = 0.95 * real_run()["baseline_score"]
    expect(page.locator("#curve .threshold-label")).to_have_text(f"threshold {threshold:.4f}")
    expect(page.locator("#heatmap rect.cell[data-round]")).to_have_count(6 + 5 + 4 + 3 + 2)
    winners = page.locator("#heatmap rect.cell.winner[data-round]")
    expect(winners).to_have_count(5)
    expect(page.locator("#heatmap rect.cell.winner.rejected[data-round='5']")).to_have_count(1)
    assert [winners.nth(i).get_attribute("data-layer") for i in range(5)] == ["3", "4", "1", "0", "2"]
    expect(page.locator("#events li[data-type='job.succeeded']")).to_have_count(1)
    # No per-depth list on this server (404): the final model is offered, and downloads with the key.
    expect(page.locator("#downloads tbody tr")).to_have_count(1)
    expect(page.locator("#downloads tbody tr td").nth(1)).to_have_text("2, 5")
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "ui-job.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#downloads button.download")
    assert Path(download.value.path()).read_bytes() == archive


def test_a_running_job_updates_while_the_page_is_open(page: Any, live: Live) -> None:
    """A round and then success written to the database show up without a reload."""
    with live.sessions() as session:
        job = running_job(session, live.owner_id, rounds=1)
    sign_in(page, live)
    page.goto(f"{live.url}/ui/jobs/{job.id}")
    expect(page.locator("#job-status")).to_have_text("running")
    expect(page.locator("#heatmap rect.cell[data-round]")).to_have_count(6)
    expect(page.locator("#job-live")).to_have_text("Following live…")
    expect(page.locator("#job-progress dd[data-fact='Layers']")).to_have_text("5 of 6 left")
    with live.sessions() as session:
        add_round(session, job.id, real_run()["rounds"][1])
        session.commit()
    # The new round's event arrives through the event feed (stream or polling), not a page reload.
    expect(page.locator("#events li[data-type='round.finished']")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("#heatmap rect.cell[data-round]")).to_have_count(11)
    expect(page.locator("#curve circle.point")).to_have_count(3)
    expect(page.locator("#job-progress dd[data-fact='Layers']")).to_have_text("4 of 6 left")
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "ui-running.png"), full_page=True)
    with live.sessions() as session:
        finish(session, job.id)
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("#job-live")).to_have_text("")


def test_the_job_list_in_the_screenshot(page: Any, live: Live) -> None:
    """Two jobs, newest first, each linking to its page."""
    with live.sessions() as session:
        done = running_job(session, live.owner_id, rounds=5)
        finish(session, done.id)
        going = running_job(session, live.owner_id, rounds=2)
    sign_in(page, live)
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(2)
    assert [rows.nth(i).get_attribute("data-job-id") for i in range(2)] == [going.id, done.id]
    expect(rows.nth(1)).to_contain_text("2 of 6 left")
    if SCREENSHOTS:
        page.screenshot(
            path=str(Path(SCREENSHOTS) / "ui-jobs.png"), clip={"x": 0, "y": 0, "width": 1200, "height": 300}
        )


def test_the_page_reads_a_server_sent_event_stream(page: Any, live: Live) -> None:
    """Where the API answers text/event-stream, the page reads the stream (keep-alives skipped) and stops
    at the job's terminal event, without falling back to polling."""
    with live.sessions() as session:
        job = running_job(session, live.owner_id, rounds=1)
    events = [
        {
            "id": 101,
            "type": "round.finished",
            "message": "streamed round",
            "data": {},
            "created_at": "2026-12-01T00:00:00Z",
        },
        {
            "id": 102,
            "type": "job.succeeded",
            "message": "streamed end",
            "data": {},
            "created_at": "2026-12-01T00:00:01Z",
        },
    ]
    accepts: list[str] = []

    def stream(route: Any) -> None:
        accepts.append(route.request.headers.get("accept", ""))
        body = ": keep-alive\n\n" + "".join(f"id: {e['id']}\r\ndata: {json.dumps(e)}\r\n\r\n" for e in events)
        route.fulfill(status=200, headers={"content-type": "text/event-stream; charset=utf-8"}, body=body)

    page.route("**/v1/jobs/*/events*", stream)
    sign_in(page, live)
    page.goto(f"{live.url}/ui/jobs/{job.id}")
    expect(page.locator("#events li")).to_have_count(2)
    expect(page.locator("#events li").nth(1)).to_contain_text("streamed end")
    expect(page.locator("#job-live")).to_have_text("")
    page.wait_for_timeout(2500)  # longer than the polling interval: no second request follows
    assert len(accepts) == 1 and accepts[0].startswith("text/event-stream")


def test_polling_stops_once_a_finished_jobs_log_is_read(page: Any, live: Live) -> None:
    """A job that ended without a terminal event in its log (e.g. older rows) is not polled forever."""
    with live.sessions() as session:
        job = running_job(session, live.owner_id, rounds=1)
        row = session.get_one(Job, job.id)
        row.status = "failed"
        session.commit()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/events" in request.url else None)
    sign_in(page, live)
    page.goto(f"{live.url}/ui/jobs/{job.id}")
    expect(page.locator("#events li")).to_have_count(3)
    expect(page.locator("#job-status")).to_have_text("failed")
    page.wait_for_timeout(2500)  # longer than the polling interval
    assert len(asked) == 1


def test_every_listed_depth_is_offered_for_download(page: Any, live: Live) -> None:
    """Where the API lists the kept depths (`/artifacts`), each available one gets a row and a button."""
    with live.sessions() as session:
        job = running_job(session, live.owner_id, rounds=5)
        finish(session, job.id)
    depth = {"round": 1, "parameters": 1, "sha256": "0" * 64, "latency_ms": None, "device": None}
    depths = [
        {**depth, "layers": 5, "kept_layers": [0, 1, 2, 4, 5], "score": 0.8073, "report_score": 0.7775,
         "bytes": 5 << 20, "available": True, "url": f"/v1/jobs/{job.id}/artifacts/5"},
        {**depth, "layers": 4, "kept_layers": [0, 1, 2, 5], "score": 0.7775, "report_score": 0.7844,
         "bytes": 4 << 20, "available": False, "url": None},
        {**depth, "layers": 2, "kept_layers": [2, 5], "score": 0.7706, "report_score": 0.7729,
         "bytes": 2 << 20, "available": True, "url": f"/v1/jobs/{job.id}/artifacts/2"},
    ]  # fmt: skip
    page.route(
        "**/v1/jobs/*/artifacts",
        lambda route: route.fulfill(status=200, json={"object": "list", "data": depths}),
    )
    sign_in(page, live)
    page.goto(f"{live.url}/ui/jobs/{job.id}")
    rows = page.locator("#downloads tbody tr")
    expect(rows).to_have_count(2)  # the depth whose archive is no longer kept is left out
    expect(rows.nth(0)).to_contain_text("0, 1, 2, 4, 5")
    expect(rows.nth(0)).to_contain_text("5.0 MiB")
    expect(rows.nth(1)).to_contain_text("2, 5")
