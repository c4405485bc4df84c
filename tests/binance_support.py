"""Helpers for the Binance-compatible API tests: ccxt pointed at a local server, Binance signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote, urlencode

import ccxt
import ccxt.pro
import httpx

from tests.api_support import Client, now_ms

SYMBOL = "TSLAXUSDC"
UNIFIED = "TSLAX/USDC"
#: Only spot markets, no currencies or margin look-ups (sapi), no clock adjustment.
CCXT_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}


def point_at(exchange: Any, url: str) -> Any:
    """Send a ccxt binance (REST or pro) to the server at ``url`` instead of Binance."""
    for name in ("public", "private"):
        exchange.urls["api"][name] = f"{url}/api/v3"
    if "ws" in exchange.urls["api"]:  # ccxt.pro
        exchange.urls["api"]["ws"]["spot"] = url.replace("http://", "ws://") + "/ws"
    return exchange


def ccxt_client(url: str, client: Client | None = None) -> ccxt.binance:
    keys = {"apiKey": client.key, "secret": client.secret} if client is not None else {}
    return point_at(ccxt.binance({**keys, "options": dict(CCXT_OPTIONS)}), url)


def ccxt_pro_client(url: str) -> ccxt.pro.binance:
    return point_at(ccxt.pro.binance({"options": dict(CCXT_OPTIONS)}), url)


def binance_request(
    client: Client,
    method: str,
    path: str,
    params: dict[str, Any],
    *,
    secret: str | None = None,
    at_ms: int | None = None,
    body: bool = False,
) -> httpx.Response:
    """A request signed the Binance way: ``timestamp`` added, then the HMAC hex of the query (or form
    body), or for a client with an Ed25519 key its base64 signature, percent-encoded."""
    query = urlencode({**params, "timestamp": at_ms if at_ms is not None else now_ms()})
    if client.private_key is not None:
        signature = quote(base64.b64encode(client.private_key.sign(query.encode())).decode(), safe="")
    else:
        key = (secret if secret is not None else client.secret or "").encode()
        signature = hmac.new(key, query.encode(), hashlib.sha256).hexdigest()
    signed = f"{query}&signature={signature}"
    headers = {"X-MBX-APIKEY": client.key}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return client.http.request(method, path, content=signed, headers=headers)
    return client.http.request(method, f"{path}?{signed}", headers=headers)
