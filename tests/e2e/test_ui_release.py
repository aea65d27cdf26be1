"""The Dagster UI in a real browser (issue 18, item 6): headless Chromium opens the release job, launches it
from the launchpad, waits for the run's success, and reads every audit check and its verdict off the
``synthetic`` asset's Checks tab, against the run's own audit record. Screenshots of each page are saved.

``make e2e`` runs it: it makes a fresh home (``tests/e2e/ui_home.py``), starts ``dagster dev`` on 127.0.0.1 as
a job of its own (``set -m``) and stops that job's whole process group afterwards. ``make test`` deselects
this module (the ``e2e`` marker; pyproject's addopts). It reads:

- ``SYNTHDATA_E2E_URL``: the UI (``http://127.0.0.1:PORT``)
- ``SYNTHDATA_HOME``: the home the UI serves (the run's audit record, the release folder)
- ``SYNTHDATA_E2E_SHOTS``: where the screenshots go (default ``.e2e/screenshots``)
- ``SYNTHDATA_E2E_RELEASE``: the release to launch, ``demo_e2e`` (default) or ``diabetes_demo`` (the full demo)
- ``SYNTHDATA_E2E_TIMEOUT``: seconds the run may take (default 900)

The browser is Debian's ``/usr/bin/chromium`` driven by ``/usr/bin/chromedriver``, both named explicitly:
Selenium Manager, which would download a driver, is never called (the test fails if it is).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evaluation import gate
from evaluation.base import AuditResult
from pipelines.factory import check_name
from pipelines.registry import registered_specs

pytestmark = pytest.mark.e2e

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
LOCATION = "pipelines.definitions"  # the code location `dagster dev -m pipelines.definitions` serves
RELEASE = os.environ.get("SYNTHDATA_E2E_RELEASE", "demo_e2e")
SHOTS = Path(os.environ.get("SYNTHDATA_E2E_SHOTS") or Path(__file__).resolve().parents[2] / ".e2e" / "screenshots")
RUN_TIMEOUT = float(os.environ.get("SYNTHDATA_E2E_TIMEOUT", "900"))
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """One query to the UI's GraphQL endpoint (the API the pages themselves call)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]


def wait_for(what: str, probe: Callable[[], object], *, timeout: float, every: float = 1.0):
    """``probe()`` until it returns something truthy; fails naming ``what`` after ``timeout`` seconds."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception as exc:  # the server still starting, an element not there yet
            value, last = None, exc
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last!r})")


@pytest.fixture(scope="module")
def ui() -> str:
    """The UI ``make e2e`` started, once its code location has loaded; Dagster's first-visit newsletter dialog
    is marked seen for this fresh instance (it would cover the page)."""
    url = os.environ.get("SYNTHDATA_E2E_URL")
    if not url:
        pytest.fail("SYNTHDATA_E2E_URL is not set: run this test through `make e2e`, which starts the UI")
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"

    def loaded() -> bool:
        entries = graphql(url, query)["workspaceOrError"]["locationEntries"]
        return any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries)

    wait_for(f"the UI at {url} to load {LOCATION}", loaded, timeout=240, every=2)
    graphql(url, "mutation { setNuxSeen }")
    return url


@pytest.fixture(scope="module")
def browser(ui: str) -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common import selenium_manager

    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            pytest.fail(f"{path} is missing: apt-get install chromium chromium-driver (make e2e installs them)")

    def no_downloads(*_args, **_kwargs):
        raise AssertionError("Selenium Manager was called: it would download a browser driver")

    original = selenium_manager.SeleniumManager.binary_paths
    selenium_manager.SeleniumManager.binary_paths = no_downloads
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1600,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        selenium_manager.SeleniumManager.binary_paths = original


class Page:
    """The browser with waits and numbered screenshots."""

    def __init__(self, driver) -> None:
        from selenium.webdriver.common.by import By

        self.driver, self.by, self.shots = driver, By, []
        SHOTS.mkdir(parents=True, exist_ok=True)

    def element(self, xpath: str, *, timeout: float = 60, clickable: bool = False):
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        condition = ec.element_to_be_clickable if clickable else ec.visibility_of_element_located
        return WebDriverWait(self.driver, timeout).until(condition((self.by.XPATH, xpath)),
                                                         message=f"no element {xpath} on {self.driver.current_url}")

    def click(self, xpath: str, *, timeout: float = 60) -> None:
        self.element(xpath, timeout=timeout, clickable=True).click()

    def text(self) -> str:
        return self.driver.find_element(self.by.TAG_NAME, "body").text

    def shot(self, name: str) -> Path:
        path = SHOTS / f"{len(self.shots) + 1:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path


def button(label: str) -> str:
    return f"//button[normalize-space()='{label}']"


CHECK_QUERY = """query($path: [String!]!, $check: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $check, limit: 1) { runId status }
}"""


def run_status(url: str, run_id: str) -> str:
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    return graphql(url, query, {"id": run_id})["runOrError"]["status"]


def test_release_launched_from_the_launchpad_shows_its_audit_verdicts(ui: str, browser) -> None:
    page = Page(browser)
    try:
        _launch_wait_and_read_checks(ui, page)
    except BaseException:
        try:  # what the page showed when it failed; the browser may be gone already (Ctrl-C reaches it too)
            page.shot("failure")
        except Exception:
            pass
        raise
    finally:
        print(f"\nscreenshots ({len(page.shots)}) in {SHOTS}:")
        for path in page.shots:
            print(f"  {path}")


def _launch_wait_and_read_checks(ui: str, page: Page) -> None:
    specs = {s.name: s for s in registered_specs()}  # what the UI registered (SYNTHDATA_HOME is its home)
    assert RELEASE in specs, f"no release {RELEASE!r} is registered; there are {sorted(specs)}"
    job = f"{RELEASE}_release"
    # 1. The release job: its asset graph, and the launchpad behind "Materialize all"'s menu.
    page.driver.get(f"{ui}/locations/{LOCATION}/jobs/{job}")
    page.element(f"//*[normalize-space()='{RELEASE}/prepared' or normalize-space()='prepared']")
    materialize_all = page.element(button("Materialize all"), clickable=True)
    page.shot("job")
    materialize_all.find_element(page.by.XPATH, "following::button[1]").click()  # the menu beside it
    page.click("//*[normalize-space()='Open launchpad']")
    page.element("//*[starts-with(normalize-space(), 'Launchpad')]")
    page.element("//*[normalize-space()='No errors']")  # the default config (StepConfig, work_area) is valid
    page.shot("launchpad")

    # 2. Launch: the UI opens the new run's page.
    page.click(button("Materialize"))
    run_id = wait_for("the run's page", lambda: page.driver.current_url.split("/runs/")[1].split("?")[0]
                      if "/runs/" in page.driver.current_url else None, timeout=60, every=0.5)
    page.element(f"//*[contains(normalize-space(), '{job}')]")
    page.shot("run-launched")
    launched = time.monotonic()

    # 3. The run: multiprocess, queued then started by the daemon `dagster dev` runs.
    status = wait_for(f"run {run_id} to finish", lambda: (s := run_status(ui, run_id)) in TERMINAL and s,
                      timeout=RUN_TIMEOUT, every=3)
    print(f"\nrun {run_id}: {status} {time.monotonic() - launched:.0f} s after its launch")
    page.driver.refresh()
    page.element("//div[normalize-space()='Success' or normalize-space()='Failure' or normalize-space()='Canceled']",
                 timeout=60)
    page.shot("run-finished")
    assert status == "SUCCESS", f"run {run_id} ended {status}: see {page.shots[-1]}"
    assert page.driver.find_elements(page.by.XPATH, "//div[normalize-space()='Success']"), "the UI does not say Success"

    # 4. What the run wrote: its audit record (every audit and its verdict) and the release folder.
    home = Path(os.environ["SYNTHDATA_HOME"])
    record = json.loads((home / "runs" / run_id / "synthetic" / "audit.json").read_text(encoding="utf-8"))
    expected = {check_name(a["name"]): gate.verdict(AuditResult.from_dict(a))[0] for a in record["audits"]}
    gates = specs[RELEASE].audits.gates
    blocking = {check_name(a["name"]): gate.is_gated(a["name"], gates) for a in record["audits"]}
    assert record["passed"] is True and expected
    manifest = json.loads((home / "releases" / f"{RELEASE}-{run_id}" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["dp_valid"] is True and 0 < manifest["epsilon"] <= specs[RELEASE].privacy.epsilon + 1e-9
    explanations = {check_name(a["name"]): " ".join(a["explanation"].split()) for a in record["audits"]}

    # 5. The `synthetic` asset's Checks tab: every audit is a check there, each executed and passed, and each
    #    check's latest execution shows the verdict the audit record holds.
    page.driver.get(f"{ui}/assets/{RELEASE}/synthetic?view=checks")
    page.element(f"//*[normalize-space()='Checks ({len(expected)})']")
    for name in expected:
        page.element(f"//div[@title='{name}']")
        item = page.driver.find_element(  # the list entry: the check's name, then its latest execution's status
            page.by.XPATH, f"//div[@title='{name}']/ancestor::*[contains(., 'Succeeded') or contains(., 'Failed')][1]")
        status_word = item.text.strip().splitlines()[-1]
        assert status_word == "Succeeded", f"check {name} shows {status_word!r} in the list"
    page.shot("checks")
    shown = {}
    for name in expected:
        page.click(f"//div[@title='{name}']")
        # The detail pane follows the click: its title, the latest execution, and the metadata table.
        page.element(f"//span[normalize-space()='{name}'][preceding-sibling::div[@aria-label='asset_check']]")

        def verdict_of(check: str = name) -> str | None:
            """The metadata table's verdict, once the table is this check's (its explanation is this audit's)."""
            def cell(key: str) -> str | None:
                found = page.driver.find_elements(page.by.XPATH, f"//td[normalize-space()='{key}']/following-sibling::td[1]")
                return " ".join(found[0].text.split()) if found else None

            return cell("verdict") if cell("explanation") == explanations[check] else None

        shown[name] = wait_for(f"check {name}'s verdict", verdict_of, timeout=30, every=0.5)
        assert page.driver.find_elements(page.by.XPATH, "//*[normalize-space()='Passed']"), \
            f"check {name}: no 'Passed' evaluation result shown"
        kind = "a blocking" if blocking[name] else "a non-blocking"  # gated audits block `export`
        assert f"This is {kind} asset check." in page.text(), f"check {name} is not shown as {kind} check"
        latest = graphql(ui, CHECK_QUERY, {"path": [RELEASE, "synthetic"], "check": name})["assetCheckExecutions"]
        assert latest and latest[0]["runId"] == run_id, f"check {name}'s latest execution is not from run {run_id}"
        page.shot(f"check-{name}")
    assert shown == expected
