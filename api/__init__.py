"""The HTTP and WebSocket API. Its security pieces are here: ``errors`` (codes and bodies),
``signing`` (signed requests), ``keys`` (accounts and API keys), ``login`` (sign-in with Ethereum),
``ratelimit``; the FastAPI app, REST and Binance-compatible routes come in a later step."""
