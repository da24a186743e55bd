"""The case view in a real browser (Debian's chromium, driven by Playwright): the SMART EHR launch from a card's
link, against an authlib authorization server in front of sekmet-fhir, and the demo pages; what a person sees."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from fixtures.scenarios import SCENARIOS
from service.fhir.subscribe import as_transaction
from service.ops.hook_client import HookClient
from service.ops.redis_server import free_port
from tests.peers.smart_server import SmartServer
from tests.processes import LISTENING, LoggedProcess
from tests.support.session import ROOT, service_env, start_sekmet

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
SEED = [f"toh-seed-stage-{stage}" for stage in (1, 2, 3, 4)]


@dataclass
class Stack:
    sekmet: str
    smart: SmartServer
    api: str  # demo off: the SMART launch only
    demo_api: str  # TOH_APP_DEMO=true, pointed at sekmet (which offers backend services only, no app launch)


def _api(env: dict[str, str]) -> tuple[LoggedProcess, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = LoggedProcess([sys.executable, "-m", "service.cli", "api", "--port", str(port)],
                            env=env | {"TOH_PUBLIC_BASE_URL": base})  # fmt: skip
    process.wait_for(LISTENING)
    return process, base


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    sekmet, sekmet_base = start_sekmet(tmp_path_factory.mktemp("case-view") / "sekmet")
    now = datetime.now(UTC)
    with httpx.Client(timeout=60) as http:
        for scenario in SCENARIOS:
            if scenario.id.startswith("seed-"):
                bundle = as_transaction(scenario.build(now).bundle())
                assert http.post(sekmet_base, json=bundle).status_code == 200
    api_port = free_port()
    smart = SmartServer(sekmet_base, f"http://127.0.0.1:{api_port}/app/callback").start()
    common = {"TOH_CDS_REQUIRE_AUTH": "false", "TOH_LOG_JSON": "true"}
    env = service_env(**common, TOH_FHIR_SERVER_ALLOWLIST=json.dumps([smart.fhir]))
    api = LoggedProcess([sys.executable, "-m", "service.cli", "api", "--port", str(api_port)],
                        env=env | {"TOH_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}"})  # fmt: skip
    api.wait_for(LISTENING)
    demo, demo_base = _api(service_env(**common, TOH_APP_DEMO="true", TOH_FHIR_BASE_URL=sekmet_base))
    try:
        yield Stack(sekmet_base, smart, f"http://127.0.0.1:{api_port}", demo_base)
    finally:
        for process in (api, demo, sekmet):
            process.stop()
        smart.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "chromium missing: `make setup` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


def card_links(stack: Stack, patient: str) -> list[dict[str, Any]]:
    """The cards an EHR gets for this patient (prefetch filled from sekmet), and their links."""
    with HookClient(stack.api) as client:
        service = client.discover()["toh-patient-view"]
        context = {"patientId": patient, "userId": "Practitioner/ehr-user"}
        prefetch = client.fill_prefetch(service, stack.sekmet, context)
        response = client.call("toh-patient-view", "patient-view", context, prefetch=prefetch)
    assert response.status_code == 200, response.text
    return [link for card in response.json()["cards"] for link in card.get("links", [])]


def launch_from_the_card(stack: Stack, page: Page, patient: str, card_of: str | None = None) -> list[str]:
    """Click-through as an EHR does it: the card's smart link, with the EHR's iss and a launch id for the chart.
    A patient with no card (the seed case once resolved) is launched as from the EHR's app menu, at the same URL."""
    smart_links = [link for link in card_links(stack, card_of or patient) if link["type"] == "smart"]
    assert smart_links and smart_links[0]["label"] == "Open the case timeline"
    assert (card_of or patient) not in smart_links[0]["appContext"]
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    launch = stack.smart.launch(patient)
    page.goto(f"{smart_links[0]['url']}?iss={stack.smart.fhir}&launch={launch}")
    page.wait_for_selector("svg.timeline")
    assert page.url == f"{stack.api}/app/case"
    return visited


def axis(page: Page) -> dict[str, float]:
    """Each event's label -> its position on the time axis (its x), and each mark's."""
    events = page.eval_on_selector_all(
        "svg.timeline g.event", "nodes => nodes.map(n => [n.querySelector('text').textContent, +n.dataset.x])"
    )
    marks = page.eval_on_selector_all(
        "svg.timeline text.tick-label, svg.timeline text.today-label",
        "nodes => nodes.map(n => [n.textContent, +n.getAttribute('x')])",
    )
    placed: dict[str, float] = {}
    for label, x in [*events, *marks]:
        placed.setdefault(label, x)  # the first of a kind (the first MRI, say)
    return placed


def rows(page: Page) -> list[str]:
    return [" | ".join(cells) for cells in page.eval_on_selector_all(
        "table.events tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")]  # fmt: skip


def test_the_ehr_launch_shows_the_seed_case_in_order_at_each_stage(stack: Stack, page: Page) -> None:
    visited = launch_from_the_card(stack, page, "toh-seed-stage-4", card_of="toh-seed-stage-2")
    placed = axis(page)
    assert (
        placed["Left hip pain"] < placed["Delivery"] < placed["Right hip pain"] < placed["MRI"]
        < placed["Hip T -1.8"] < placed["Resolved"] < placed["Today"]
    ), placed  # fmt: skip
    text = "\n".join(rows(page))
    assert "at 32+5 weeks | Pain: Left hip pain" in text  # the left hip at 33 weeks' gestation
    assert "3 days after delivery | Pain: Right hip pain" in text
    assert "MRI on" in text and "bone marrow oedema" in text and "DXA femoral neck T-score -1.8" in text
    assert "Transient osteoporosis of the hip marked resolved" in text
    assert page.inner_text("h1") == "Case timeline 7 months postpartum, breastfeeding"

    token = next(iter(stack.smart.tokens))
    for url in visited + stack.smart.seen:
        assert token not in url and "toh-seed-stage-4" not in url.split("/fhir/")[0], url
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert set(cookies) == {"toh_session"} and cookies["toh_session"]["httpOnly"]
    assert cookies["toh_session"]["sameSite"] == "Lax"
    assert token not in page.content()


@pytest.mark.parametrize(
    ("patient", "phase", "shown"),
    [
        ("toh-seed-stage-1", "Pregnant, 33+0 weeks", ["Left hip pain"]),
        ("toh-seed-stage-2", "2 weeks postpartum, breastfeeding", ["Left hip pain", "Right hip pain", "MRI", "CRP 4"]),
        ("toh-seed-stage-3", "2 months postpartum, breastfeeding", ["MRI", "Hip T -1.8", "Spine T -1.8"]),
    ],
)
def test_each_stage_shows_its_story_and_cards(
    stack: Stack, page: Page, patient: str, phase: str, shown: list[str]
) -> None:
    launch_from_the_card(stack, page, patient)
    assert page.inner_text("h1 .phase") == phase
    assert set(shown) <= set(axis(page))
    summaries = page.eval_on_selector_all("article.card h3", "nodes => nodes.map(n => n.textContent)")
    assert any("transient osteoporosis of the hip" in summary.lower() for summary in summaries), summaries
    first_link = page.eval_on_selector("table.events tbody tr a", "a => a.getAttribute('href')")
    assert page.locator(first_link.replace("/", "\\/")).count() == 1  # each event links to its evidence entry


def test_the_page_runs_no_script_and_says_so(stack: Stack, page: Page) -> None:
    launch_from_the_card(stack, page, "toh-seed-stage-2")
    response = page.request.get(f"{stack.api}/app/case")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert page.locator("script").count() == 0
    assert page.locator("svg.timeline title").first.text_content() == "Case timeline"
    assert "events from" in (page.locator("svg.timeline desc").text_content() or "")


def test_without_a_session_or_demo_mode_nothing_is_shown(stack: Stack) -> None:
    assert httpx.get(f"{stack.api}/app/case").status_code == 401
    assert httpx.get(f"{stack.api}/app/demo/toh-seed-stage-2").status_code == 404
    assert httpx.get(f"{stack.api}/app/").status_code == 404
    stolen = httpx.get(f"{stack.api}/app/case", cookies={"toh_session": "guessed"})
    assert stolen.status_code == 401


def test_a_callback_from_another_browser_is_refused(stack: Stack) -> None:
    """CSRF: a code obtained in one browser and replayed in another must not open a session there."""
    launch = stack.smart.launch("toh-seed-stage-2")
    with httpx.Client() as started, httpx.Client() as other:
        to_authorize = started.get(f"{stack.api}/app/launch", params={"iss": stack.smart.fhir, "launch": launch})
        assert to_authorize.status_code == 302 and "toh_launch" in started.cookies
        callback = httpx.get(to_authorize.headers["location"]).headers["location"]  # the user approves
        assert other.get(callback).status_code == 403  # no launch cookie: refused, and the state is used up
        assert started.get(callback).status_code == 400  # so the code cannot be used again either


def test_demo_mode_shows_the_cohort_and_the_case_without_a_launch(stack: Stack, page: Page, tmp_path: Path) -> None:
    page.goto(f"{stack.demo_api}/app/")
    assert set(SEED) <= set(page.eval_on_selector_all("ul.cohort a", "links => links.map(a => a.textContent)"))
    for patient, name in (("toh-seed-stage-2", "case-stage-2"), ("toh-seed-stage-4", "case-stage-4")):
        page.goto(f"{stack.demo_api}/app/demo/{patient}")
        assert page.locator(".demo").inner_text() == "demo data"
        assert "Right hip pain" in axis(page)
        shot = (SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path) / f"{name}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 20_000  # a picture, not a blank page
        printed = page.pdf(format="A4", landscape=True)
        assert printed.startswith(b"%PDF") and len(printed) > 20_000
