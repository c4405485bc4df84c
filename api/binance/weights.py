"""Rate limit weights of the Binance routes (1 when not listed): Binance's own, capped at 10 like
the heaviest ``/v1`` routes, so any budget the ``/v1`` routes fit (``api.ratelimit``) fits these."""

ROUTE_WEIGHTS = {
    "GET /api/v3/exchangeInfo": 10,
    "GET /api/v3/depth": 5,
    "GET /api/v3/trades": 10,
    "GET /api/v3/aggTrades": 4,
    "GET /api/v3/klines": 2,
    "GET /api/v3/ticker/24hr": 2,
    "GET /api/v3/ticker/price": 2,
    "GET /api/v3/ticker/bookTicker": 2,
    "GET /api/v3/order": 4,
    "GET /api/v3/openOrders": 6,
    "GET /api/v3/allOrders": 10,
    "GET /api/v3/myTrades": 10,
    "GET /api/v3/account": 10,
    "POST /api/v3/userDataStream": 2,
    "PUT /api/v3/userDataStream": 2,
    "DELETE /api/v3/userDataStream": 2,
}
