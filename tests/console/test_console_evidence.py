"""Privacy Controls > Evidence: the public key and its fingerprint, a chart of exchanges per day,
issuing a statement and downloading it (it verifies offline); other orgs and members kept out.
The last test does it in real headless Chromium (Debian's, never a download)."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_world import PASSWORD, World, record_exchange, sign_in
from starlette.testclient import TestClient

from zdr.proof.verify import verify_file


def key_pem(world: World) -> list[str]:
    return [world.plane.evidence.signer().public_pem]


def test_an_owner_issues_and_downloads_a_statement(client: TestClient, world: World) -> None:
    acme = world.org_ids["Acme"]
    record_exchange(world, "Acme", "req_evidence_1")
    token = sign_in(client, "owner@acme.test")
    page = client.get(f"/console/orgs/{acme}/evidence")
    assert page.status_code == 200
    signer = world.plane.evidence.signer()
    assert signer.key_id in page.text and "BEGIN PUBLIC KEY" in page.text
    assert 'data-testid="chart"' in page.text and "<script" not in page.text
    issued = client.post(f"/console/orgs/{acme}/evidence", data={
        "since": "2020-01-01", "until": "2099-12-31", "csrf_token": token})
    assert issued.status_code == 303
    listing = client.get(issued.headers["location"])
    assert "Statement signed" in listing.text
    seq = world.plane.evidence.log(world.plane.accounts.actor_for_email("owner@acme.test"),
                                   acme)[0].seq
    download = client.get(f"/console/orgs/{acme}/evidence/{seq}")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    payload = verify_file(download.content, key_pem(world)).payload
    assert payload["org"]["id"] == acme and payload["exchanges"]["total"] == 1


def test_a_bad_period_is_reported_next_to_the_field(client: TestClient, world: World) -> None:
    acme = world.org_ids["Acme"]
    token = sign_in(client, "owner@acme.test")
    response = client.post(f"/console/orgs/{acme}/evidence", data={
        "since": "2026-02-01", "until": "2026-01-01", "csrf_token": token})
    assert response.status_code == 400 and "cannot be before the first" in response.text


def test_other_orgs_and_members_are_kept_out(client: TestClient, world: World) -> None:
    acme = world.org_ids["Acme"]
    sign_in(client, "owner@globex.test")
    assert client.get(f"/console/orgs/{acme}/evidence").status_code == 404
    assert client.get(f"/console/orgs/{acme}/evidence/1").status_code == 404
    client.cookies.clear()
    sign_in(client, "member@acme.test")
    assert client.get(f"/console/orgs/{acme}/evidence").status_code == 403


@pytest.mark.browser
def test_the_evidence_page_in_chromium(world: World, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from zdr.testing.logcapture import CapturedLines
    from zdr.testing.servers import StubThread, UvicornThread
    from zdr.wiring import build_app, control_plane_app

    acme = world.org_ids["Acme"]
    for n in range(3):
        record_exchange(world, "Acme", f"req_evidence_browser_{n}")
    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
    shots.mkdir(parents=True, exist_ok=True)
    with StubThread() as stub:
        settings = world.settings.model_copy(update={"upstream_url": stub.url})
        app = build_app(settings, fallback=control_plane_app(settings), log_writer=CapturedLines())
        with UvicornThread(app) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            try:
                page = browser.new_context(java_script_enabled=False,
                                           accept_downloads=True).new_page()
                page.goto(f"{server.url}/console/login")
                page.get_by_label("Email").fill("owner@acme.test")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("link", name="Evidence").first.click()
                assert page.url.endswith(f"/console/orgs/{acme}/evidence")
                assert page.get_by_test_id("chart").count() == 1
                prints = page.get_by_test_id("fingerprint").all_inner_texts()
                assert any(p.replace(" ", "").startswith(world.plane.evidence.signer().key_id)
                           for p in prints)
                page.get_by_role("button", name="Sign a statement for this period").click()
                assert "Statement signed" in page.get_by_role("status").first.inner_text()
                page.screenshot(path=str(shots / "evidence.png"), full_page=True)
                with page.expect_download() as download:
                    page.get_by_role("link", name="Download").first.click()
                saved = tmp_path / "statement.json"
                download.value.save_as(saved)
            finally:
                browser.close()
    payload = verify_file(saved.read_bytes(), key_pem(world)).payload
    assert payload["exchanges"]["total"] == 3
