"""Settlement monitoring against a real server: fills settled on Anvil by the worker, then the API
(its own process's view: the store and the chain) serves /v1/settlement/*, /metrics and the
dashboard, which headless Debian Chromium loads (Playwright's driver, not its browser download)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from bluebook.server import ApiServer, ApiSettings
from matcher.sessions import Session
from settlement.batches import create_batch
from settlement.devchain import DevVault
from settlement.monitor import ChainMonitor
from store.migrate import upgrade
from tests.api_support import start_gating
from tests.browser import dashboard, screenshot
from tests.chain import Odd
from tests.settling import CONFIG, Exchange

FILLS, BATCH_SIZE = 12, 5


@pytest.fixture(scope="module")
def server(deployment: tuple[DevVault, Odd], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """Fills settled in ``ceil(FILLS / BATCH_SIZE)`` FINAL batches; then the API over the same data
    directory and store, with the chain monitor that ``bluebook run`` gives it."""
    dev = deployment[0]
    snapshot = dev.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    directory = tmp_path_factory.mktemp("monitoring")
    url = f"sqlite:///{directory / 'store.db'}"
    upgrade(url)
    db = create_engine(url)
    exchange = Exchange(dev, db, directory / "node")
    try:
        exchange.trade(FILLS)
        exchange.settle(exchange.worker(max_trades=BATCH_SIZE))
    finally:
        exchange.close()
        db.dispose()
    api = ApiServer(CONFIG, directory / "node", ApiSettings(port=0, db_url=url, snapshot_every_s=3_600))
    api.start()
    assert api.services is not None and api.database is not None
    api.services.chain = ChainMonitor(api.database, CONFIG, dev.w3.provider.endpoint_uri, dev.vault.address)  # type: ignore[attr-defined]
    yield api
    api.stop()
    dev.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


def get(server: ApiServer, path: str) -> Any:
    response = httpx.get(server.url + path, timeout=30)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def test_status_reports_final_batches_lag_sender_and_books_that_agree(server: ApiServer) -> None:
    status = get(server, "/v1/settlement/status")
    batches = -(-FILLS // BATCH_SIZE)
    assert status["final_batches"] == batches and status["pending_batches"] == 0
    assert status["oldest_pending_s"] is None and status["settled_up"] is True
    assert 0 < status["lag_p50_s"] <= status["lag_p99_s"]  # fill -> final
    assert status["lag_measured"] == "fill to final" and 0 < status["batch_lag_p50_s"] <= status["lag_p99_s"]
    assert status["fills_final"] == FILLS and status["fills_waiting"] == 0 and status["reorgs_seen"] == 0
    chain = status["chain"]
    assert int(chain["sender_balance_wei"]) > 0 and chain["sender_runway_batches"] > 0
    books = status["reconciliation"]
    assert set(books) >= {"USDC", "TSLAx"}
    for figures in books.values():
        assert figures["solvency"] == "0" and figures["agreement"] == 0 and not figures["accounts_differing"]
    print(f"\nstatus: {batches} final batches, fill lag p50 {status['lag_p50_s']:.2f} s "
          f"p99 {status['lag_p99_s']:.2f} s, gas/trade {status['gas_per_trade']:.0f}, "
          f"runway {chain['sender_runway_batches']} batches")  # fmt: skip


def test_batches_are_filtered_paged_and_shown_in_full(server: ApiServer) -> None:
    final = get(server, "/v1/settlement/batches?state=FINAL")
    assert [b["batch_id"] for b in final] == [3, 2, 1] and {b["state"] for b in final} == {"FINAL"}
    assert get(server, "/v1/settlement/batches?state=SENT") == []
    page = get(server, "/v1/settlement/batches?limit=2")
    rest = get(server, f"/v1/settlement/batches?limit=2&before={page[-1]['batch_id']}")
    assert [b["batch_id"] for b in page + rest] == [3, 2, 1]
    detail = get(server, "/v1/settlement/batches/1")
    assert detail["gas_used"] > 0 and detail["block_hash"]
    assert [tx["tx_hash"] for tx in detail["transactions"]] == [detail["tx_hash"]]
    assert len(detail["items"]) == BATCH_SIZE == detail["items"][-1]["position"] + 1
    item = detail["items"][0]
    assert item["kind"] == "trade" and item["settlement_status"] == "final" and item["price"] == "250"
    missing = httpx.get(server.url + "/v1/settlement/batches/99", timeout=30)
    assert missing.status_code == 404 and missing.json()["code"] == 4001


def test_metrics_expose_the_settlement_figures_in_prometheus_text(server: ApiServer) -> None:
    response = httpx.get(server.url + "/metrics", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    batches = -(-FILLS // BATCH_SIZE)
    assert samples[("bluebook_settlement_batches", (("state", "FINAL"),))] == batches
    assert samples[("bluebook_settlement_fills", (("status", "waiting"),))] == 0
    assert samples[("bluebook_settlement_lag_seconds_count", ())] == FILLS  # one per settled fill
    assert samples[("bluebook_settlement_lag_seconds_bucket", (("le", "+Inf"),))] == FILLS
    assert samples[("bluebook_settlement_reorgs_total", ())] == 0
    assert samples[("bluebook_settlement_chain_up", ())] == 1
    assert samples[("bluebook_settlement_sender_balance_wei", ())] > 0
    assert samples[("bluebook_settlement_solvency", (("asset", "USDC"),))] == 0
    assert samples[("bluebook_settlement_agreement", (("asset", "TSLAx"),))] == 0
    assert samples[("bluebook_settlement_gas_per_trade", ())] > 0
    print(f"\n/metrics: {len(samples)} samples, {len(response.content)} bytes")


def test_the_dashboard_shows_the_batches_and_sessions_in_headless_chromium(server: ApiServer) -> None:
    gating = start_gating(server, Session.REGULAR)
    try:
        with dashboard(server.url) as (page, requested):
            page.wait_for_selector('#batches tbody tr[data-batch-id="1"]', timeout=10_000)
            assert page.locator('#batches tbody tr[data-batch-id="1"] td').first.inner_text() == "#1"
            page.locator('#batches tbody tr[data-batch-id="1"]').click()
            page.wait_for_function("document.getElementById('detail').textContent.includes('transactions')")
            tesla = '#tickers tbody tr[data-symbol="TSLAx-USDC"] td'
            page.wait_for_function(f"document.querySelector('{tesla}:nth-child(3)')?.textContent === '250'")
            shown = page.locator(tesla).all_inner_texts()[:4]
            header = page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
            saved = screenshot(page, "dashboard.png")
    finally:
        gating.stop()
    assert shown == ["TSLAx-USDC", "regular", "250", "237.5 – 262.5"]  # 5% around 250 (tier 1)
    assert header == "rgb(35, 84, 230)"  # #2354E6
    assert requested and all(url.startswith(server.url) for url in requested), requested
    print(f"\ndashboard screenshot: {saved} ({len(requested)} requests, all local)")


def test_without_a_chain_a_pending_batch_shows_from_the_store_alone(tmp_path: Path) -> None:
    api = ApiServer(CONFIG, tmp_path / "node", ApiSettings(port=0, snapshot_every_s=3_600))
    api.start()
    try:
        assert api.database is not None
        create_batch(api.database, 1, [], time.time_ns() - 5 * 10**9)
        status = get(api, "/v1/settlement/status")
        assert status["pending_batches"] == 1 and status["batches_by_state"] == {"CREATED": 1}
        assert status["oldest_pending_s"] >= 5 and status["settled_up"] is False
        assert status["chain"] is None and status["reconciliation"] is None and status["lag_p50_s"] is None
        assert get(api, "/v1/settlement/batches/1")["items"] == []
        text = httpx.get(api.url + "/metrics", timeout=30).text
        assert 'bluebook_settlement_batches{state="CREATED"} 1.0' in text
        assert "bluebook_settlement_oldest_pending_batch_age_seconds" in text and "chain_up" not in text
    finally:
        api.stop()
