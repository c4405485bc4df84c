"""The HTTP and WebSocket API (a later step): REST, Binance-compatible routes, market data."""
