// The bluebook dashboard: polls the public JSON routes every two seconds and redraws.
// Values are written with textContent only (never as HTML).
"use strict";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

async function get(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  return td;
}

function fill(tableId, rows, draw) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  for (const item of rows) draw(body.insertRow(), item);
}

const seconds = (s) => (s === null || s === undefined ? null : `${Number(s).toFixed(1)} s`);
const short = (hash) => (hash ? `${hash.slice(0, 10)}…` : null);

function ether(wei) {
  if (wei === undefined || wei === null) return null;
  const text = String(wei).padStart(19, "0");
  return `${text.slice(0, -18)}.${text.slice(-18, -14)} ETH`;
}

function drawTiles(status) {
  const chain = status.chain || {};
  const tiles = [
    ["final batches", status.final_batches],
    ["pending batches", status.pending_batches],
    ["oldest pending", seconds(status.oldest_pending_s)],
    ["lag p50 (fill → final)", seconds(status.lag_p50_s)],
    ["lag p99 (fill → final)", seconds(status.lag_p99_s)],
    ["fills waiting", status.fills_waiting],
    ["fills held", status.fills_held],
    ["gas / trade", status.gas_per_trade === null ? null : Math.round(status.gas_per_trade)],
    ["calldata / trade", status.calldata_bytes_per_trade === null ? null : `${status.calldata_bytes_per_trade.toFixed(1)} B`],
    ["open alerts", status.open_alerts],
    ["reorgs seen", status.reorgs_seen],
    ["sender balance", ether(chain.sender_balance_wei)],
    ["runway (batches)", chain.sender_runway_batches],
  ];
  $("tiles").replaceChildren(...tiles.map(([label, value]) => {
    const tile = document.createElement("div");
    tile.className = "tile";
    const name = document.createElement("div");
    name.className = "label";
    name.textContent = label;
    const figure = document.createElement("div");
    figure.className = "value";
    figure.textContent = value === null || value === undefined ? "–" : String(value);
    tile.append(name, figure);
    return tile;
  }));
}

function drawReconciliation(status) {
  const chain = status.chain;
  $("chain").textContent = !chain
    ? "No chain configured: reconciliation needs the vault."
    : chain.error
      ? `Chain unreadable: ${chain.error}`
      : `vault ${chain.vault}, operator ${chain.operator}, block ${chain.block_number}` +
        (status.settled_up ? "" : " — agreement shown once nothing is in flight");
  const books = status.reconciliation || {};
  fill("reconciliation", Object.entries(books), (row, [asset, figures]) => {
    cell(row, asset);
    cell(row, figures.solvency, figures.solvency === "0" ? "" : "bad");
    cell(row, figures.agreement, figures.agreement ? "bad" : "");
    cell(row, Object.keys(figures.accounts_differing).length);
  });
}

async function showBatch(batchId) {
  const detail = await get(`/v1/settlement/batches/${batchId}`);
  $("detail").textContent = JSON.stringify(detail, null, 2);
}

function drawBatches(batches) {
  fill("batches", batches, (row, batch) => {
    row.dataset.batchId = batch.batch_id;
    cell(row, `#${batch.batch_id}`);
    cell(row, batch.state, `state-${batch.state}`);
    cell(row, batch.items);
    cell(row, batch.gas_used);
    cell(row, batch.block_number);
    cell(row, short(batch.tx_hash));
    cell(row, seconds(batch.lag_s));
    row.addEventListener("click", () => showBatch(batch.batch_id).catch(report));
  });
}

function sessionText(s) {
  if (!s) return "";
  if (s.gating === "not_configured") return "not gated";
  return s.halted ? `${s.session} · halted: ${s.reason || "?"}` : s.session;
}

function drawMarket(tickers, sessions, depth) {
  const bySymbol = Object.fromEntries(sessions.map((s) => [s.symbol, s]));
  fill("tickers", tickers, (row, t) => {
    const s = bySymbol[t.symbol];
    row.dataset.symbol = t.symbol;
    cell(row, t.symbol);
    cell(row, sessionText(s), s && s.halted ? "bad" : "");
    cell(row, s && s.reference);
    cell(row, s && s.band ? `${s.band[0]} – ${s.band[1]}` : "");
    cell(row, t.last);
    cell(row, t.best_bid);
    cell(row, t.best_ask);
    cell(row, t.volume);
    cell(row, t.trades);
  });
  const select = $("symbol");
  if (select.options.length === 0) {
    for (const t of tickers) select.add(new Option(t.symbol, t.symbol));
  }
  if (!depth) return;
  const levels = Math.max(depth.bids.length, depth.asks.length);
  fill("depth", [...Array(levels).keys()], (row, i) => {
    const bid = depth.bids[i] || [];
    const ask = depth.asks[i] || [];
    cell(row, bid[1]);
    cell(row, bid[0]);
    cell(row, ask[0]);
    cell(row, ask[1]);
  });
}

function report(error) {
  $("updated").textContent = `update failed: ${error.message}`;
}

async function refresh() {
  const [status, batches, health, tickers, sessions] = await Promise.all([
    get("/v1/settlement/status"),
    get("/v1/settlement/batches?limit=20"),
    get("/v1/health"),
    get("/v1/ticker"),
    get("/v1/sessions"),
  ]);
  const symbol = $("symbol").value || (tickers[0] && tickers[0].symbol);
  const depth = symbol ? await get(`/v1/depth?symbol=${encodeURIComponent(symbol)}&limit=10`) : null;
  $("engine").textContent = `${health.status || "?"} · engine ${health.engine || "?"} · seq ${health.seq ?? "?"}`;
  drawTiles(status);
  drawReconciliation(status);
  drawBatches(batches);
  drawMarket(tickers, sessions, depth);
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function loop() {
  try {
    await refresh();
  } catch (error) {
    report(error);
  }
  setTimeout(loop, POLL_MS);
}

loop();
