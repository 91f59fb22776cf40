"""The bare forwarder the benchmark compares the bridge with.

A minimal Starlette endpoint that turns each POST into the same market order on the same
simulator with one httpx call: no authentication, no template, no journal, no reconciliation.
It logs in and looks up the contract once at start, as any forwarder would.

    python bench/forwarder.py --sim-url http://127.0.0.1:8100 --port 8201
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ACCOUNT_ID = 70000001  # the simulator's Auto OCO practice account


def create_forwarder(sim_url: str) -> Starlette:
    state: dict[str, object] = {}
    tags = itertools.count()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=sim_url, timeout=10) as client:
            login = await client.post("/api/Auth/loginKey", json={"userName": "bench", "apiKey": "bench"})
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"
            contracts = (await client.post("/api/Contract/available", json={"live": False})).json()
            state["contract_id"] = next(
                c["id"] for c in contracts["contracts"] if c["symbolId"] == "F.US.MNQ" and c["activeContract"]
            )
            state["client"] = client
            yield

    async def forward(request: Request) -> JSONResponse:
        alert = json.loads(await request.body())
        client: httpx.AsyncClient = state["client"]  # type: ignore[assignment]
        placed = await client.post(
            "/api/Order/place",
            json={
                "accountId": ACCOUNT_ID,
                "contractId": state["contract_id"],
                "type": 2,
                "side": 0 if alert["action"] == "buy" else 1,
                "size": int(alert["quantity"]),
                "customTag": f"fwd-{next(tags)}",
                "isAutomated": True,
            },
        )
        return JSONResponse({"status": "forwarded", "orderId": placed.json().get("orderId")})

    return Starlette(routes=[Route("/forward", forward, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sim-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_forwarder(args.sim_url),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
