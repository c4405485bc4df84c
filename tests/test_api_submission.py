"""What requests submit in one turn of the event loop reaches the node as one list
(``api.context.Services.execute``): each request still gets its own acks, and a stopped node
answers every one of them ENGINE_UNAVAILABLE, none left waiting."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from api.errors import ErrorCode
from tests.api_support import funded_client, start_server

ADDRESS = "0x00000000000000000000000000000000000000c7"


def test_concurrent_orders_each_get_their_own_answer_and_a_stopped_node_refuses_them_all(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path)
    try:
        client = funded_client(server, ADDRESS)
        ids = [f"together-{n}" for n in range(40)]

        def place(cid: str) -> dict:
            price = str(200 + int(cid.rsplit("-", 1)[1]) / 100)
            response = client.place(side="buy", price=price, qty="1", client_order_id=cid)
            assert response.status_code == 200, response.text
            return response.json()

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(place, ids))
        assert [a["order"]["client_order_id"] for a in answers] == ids
        assert [Decimal(a["order"]["price"]) for a in answers] == [200 + Decimal(n) / 100 for n in range(40)]
        assert len({a["order"]["order_id"] for a in answers}) == 40

        assert server.node is not None
        server.node.stop()
        with ThreadPoolExecutor(8) as pool:
            late = [f"late-{n}" for n in range(8)]
            refused = list(
                pool.map(
                    lambda cid: client.place(side="buy", price="199", qty="1", client_order_id=cid), late
                )
            )
        for response in refused:
            assert (response.status_code, response.json()["code"]) == (503, int(ErrorCode.ENGINE_UNAVAILABLE))
    finally:
        server.stop()
