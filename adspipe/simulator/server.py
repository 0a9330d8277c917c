"""The simulator's HTTP face: `Simulator` (world, clock, faults, truth, counters, request log), its
Starlette app, and `run_simulator` (uvicorn on a free port in a background thread).

Routes (`{base}` is `http://host:port`):
- `POST {base}/shopify/{shop}/admin/api/{version}/graphql.json`  — Shopify Admin GraphQL
- `GET  {base}/shopify-bulk/{n}.jsonl?expires=…`  — a bulk operation's result (simulator/shopify_bulk.py)
- `GET  {base}/meta/{version}/act_{id}/insights`, `GET {base}/meta/{version}/act_{id}`  — Meta;
  `POST {base}/meta/{version}/act_{id}/insights`, `GET {base}/meta/{version}/{report_run_id}[/insights]`
  — Meta's asynchronous report runs
- `POST {base}/google-ads/{version}/customers/{id}/googleAds:searchStream`, `POST {base}/google-oauth/token`
  — Google Ads (simulator/google_ads.py, which also serves `{base}/google-ads/admin/...`)
- `GET/POST {base}/admin/clock`, `GET/POST {base}/admin/faults`, `GET {base}/admin/stats`,
  `GET {base}/admin/world`, `GET {base}/admin/truth`, `GET {base}/admin/requests`

API requests meet the fault knobs here (latency, hangs, 5xx, dropped connections, truncated
bodies, Shopify INTERNAL_SERVER_ERROR); the platform modules answer as a healthy API would.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from adspipe.simulator import admin
from adspipe.simulator.clock import SimClock
from adspipe.simulator.faults import FaultDraw, FaultInjector, Faults
from adspipe.simulator.google_ads import GoogleAdsApi
from adspipe.simulator.google_ads import routes as google_ads_routes
from adspipe.simulator.google_ads_faults import broken_stream, server_error_body
from adspipe.simulator.meta_api import MetaApi
from adspipe.simulator.meta_reports import meta_request_names
from adspipe.simulator.request_log import RequestRecord as RequestRecord
from adspipe.simulator.request_log import graphql_variables
from adspipe.simulator.request_log import overlapping as overlapping
from adspipe.simulator.shopify_api import ApiResponse, ShopifyApi, dumps
from adspipe.simulator.shopify_schema import CostFunction, default_cost
from adspipe.simulator.truth import Truth
from adspipe.simulator.util import credential_id, stable_int
from adspipe.simulator.world import World

OUTCOMES = ("ok", "throttled", "5xx", "timeout", "drop", "malformed", "internal", "auth", "not_found",
            "denied", "bad_request", "error")  # fmt: skip
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
HTML_504 = (
    b"<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>"
)


class _Dropped(Exception):
    """Raised mid-body on purpose: the server closes the connection (a dropped connection)."""


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _Dropped)


class DroppedResponse(Response):
    """Headers and part of the body, then the connection is cut (Content-Length promises more)."""

    def __init__(self, body: bytes, cut: float, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(body, status_code, headers)
        self._part = body[: max(1, int(len(body) * cut))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self._part, "more_body": True})
        raise _Dropped("connection dropped by the simulator (drop_rate)")


class Simulator:
    def __init__(
        self,
        seed: int = 1,
        stores: int = 3,
        faults: Faults | None = None,
        clock: SimClock | None = None,
        orders_per_day: int | None = None,
        *,
        ads_per_account: int | None = None,
        tokens: Iterable[str] | None = ("sim-token",),
        cost_fn: CostFunction = default_cost,
        monotonic: Callable[[], float] = time.monotonic,
        log_size: int = 100_000,
    ) -> None:
        """`tokens`: accepted tokens (None accepts any non-empty token); `faults.revoked_tokens`
        rejects tokens at run time. `monotonic` drives the Shopify bucket and Meta usage decay."""
        self.world = World(seed, stores, orders_per_day=orders_per_day, ads_per_account=ads_per_account)
        self.faults = faults or Faults()
        self.clock = clock or SimClock()
        self.truth = Truth(self.world, self.clock)
        self.monotonic = monotonic
        self.injector = FaultInjector(seed, self.faults)
        self.shopify = ShopifyApi(self.world, self.faults, self.clock.timestamp, tokens=tokens, cost_fn=cost_fn,
                                  monotonic=monotonic)  # fmt: skip
        self.meta = MetaApi(self.world, self.faults, self.clock.timestamp, tokens=tokens, monotonic=monotonic)
        self.google_ads = GoogleAdsApi(self.world, self.clock.timestamp)
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {
            "shopify": Counter(),
            "meta": Counter(),
            "google_ads": Counter(),
        }
        self._log: deque[RequestRecord] = deque(maxlen=log_size)
        self._seq = 0
        self.app = build_app(self)

    # ---- counters and the request log --------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        """Requests per platform and outcome (every outcome present, zeros included)."""
        with self._lock:
            return {p: {o: c.get(o, 0) for o in OUTCOMES} for p, c in self._counts.items()}

    def request_log(self, platform: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._log if platform is None or r.platform == platform]

    def reset_stats(self) -> None:
        with self._lock:
            for c in self._counts.values():
                c.clear()
            self._log.clear()

    def _record(
        self,
        platform: str,
        endpoint: str,
        account: str,
        t_in: float,
        status: int,
        outcome: str,
        detail: str = "",
        query: tuple[tuple[str, str], ...] = (),
        credential: str = "",
    ) -> None:
        with self._lock:
            self._seq += 1
            self._counts[platform][outcome] += 1
            now = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            self._log.append(RequestRecord(self._seq, platform, endpoint, account, t_in, self.monotonic(), now,
                                           status, outcome, detail, query, credential))  # fmt: skip

    # ---- one API request through the fault knobs ---------------------------------------------

    async def call(
        self, platform: str, endpoint: str, account: str, answer: Callable[[], ApiResponse], detail: str = "",
        query: tuple[tuple[str, str], ...] = (), credential: str = "",
    ) -> Response:  # fmt: skip
        f = self.faults
        record = functools.partial(self._record, detail=detail, query=query, credential=credential)
        t_in = self.monotonic()
        draw: FaultDraw = self.injector.draw(platform)
        per_platform = {
            "shopify": f.shopify_latency_s,
            "meta": f.meta_latency_s,
            "google_ads": f.google_ads_latency_s,
        }
        delay = f.latency_s + per_platform.get(platform, 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if draw.kind == "timeout":
            await asyncio.sleep(f.timeout_hang_s)  # past the client's read timeout
            record(platform, endpoint, account, t_in, 504, "timeout")
            return Response(HTML_504, 504, media_type="text/html")
        if draw.kind == "5xx":
            record(platform, endpoint, account, t_in, draw.status, "5xx")
            return _server_error(platform, draw.status, self._trace())
        if draw.kind == "internal" and platform != "google_ads":
            record(platform, endpoint, account, t_in, 200, "internal")
            return _json(200, _internal_error(self._trace()), {})
        result = answer()
        if draw.kind == "internal" and result.status == 200 and endpoint == "searchStream":
            record(platform, endpoint, account or result.account, t_in, 200, "internal")
            return _json(200, broken_stream(result.body), result.headers)
        if draw.kind == "drop":
            record(platform, endpoint, account, t_in, result.status, "drop")
            headers = {
                **result.headers,
                "content-type": result.headers.get("content-type", "application/json"),
            }
            return DroppedResponse(result.body, draw.cut, result.status, headers)
        if draw.kind == "malformed" and result.status == 200:
            record(platform, endpoint, account, t_in, 200, "malformed")
            return _json(200, result.body[: int(len(result.body) * draw.cut)], result.headers)
        record(platform, endpoint, account or result.account, t_in, result.status, result.outcome)
        return _json(result.status, result.body, result.headers)

    def _trace(self) -> str:
        return f"{stable_int(self.world.seed, 'trace', time.monotonic_ns()) % 10**12:012d}"


def _json(status: int, body: bytes, headers: dict[str, str]) -> Response:
    media = headers.get("content-type", "application/json; charset=utf-8")
    rest = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return Response(body, status, headers=rest, media_type=media)


def _server_error(platform: str, status: int, trace: str) -> Response:
    if status == 502:
        return Response(HTML_502, 502, media_type="text/html")
    if platform == "google_ads":
        return _json(status, server_error_body(status), {})
    if platform == "shopify":
        text = "Internal Server Error" if status == 500 else "Service Unavailable"
        return _json(status, dumps({"errors": text}), {})
    message = "An unexpected error has occurred. Please retry your request later."
    error = {
        "message": message,
        "type": "OAuthException",
        "is_transient": True,
        "code": 2,
        "fbtrace_id": trace,
    }
    return _json(status, dumps({"error": error}), {})


def _internal_error(request_id: str) -> bytes:
    message = f"Internal error. Looks like something went wrong on our end.\nRequest ID: {request_id} (include this in support requests)."
    return dumps(
        {
            "errors": [
                {"message": message, "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}}
            ]
        }
    )


FORM = "application/x-www-form-urlencoded"  # Graph API parameters may come in a form body too


def build_app(sim: Simulator) -> Starlette:
    async def shopify_graphql(request: Request) -> Response:
        shop, version = request.path_params["shop"], request.path_params["version"]
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        base = str(request.base_url).rstrip("/")
        return await sim.call(
            "shopify",
            "graphql",
            shop,
            lambda: sim.shopify.handle(shop, version, headers, body, base),
            version,
            graphql_variables(body),
            credential_id(headers.get("x-shopify-access-token", "").strip()),
        )

    async def shopify_bulk_result(request: Request) -> Response:
        t_in = sim.monotonic()
        status, body = sim.shopify.bulk.result(
            request.path_params["name"], request.query_params.get("expires", "")
        )
        sim._record("shopify", "bulk_result", "", t_in, status, "ok" if status == 200 else "not_found")
        if isinstance(body, bytes):
            return Response(body, status, media_type="application/xml")
        return StreamingResponse(body, status, media_type="application/jsonl")

    async def meta_node(request: Request) -> Response:
        version, node = request.path_params["version"], request.path_params["node"]
        edge = request.path_params.get("edge")
        params = dict(request.query_params)
        if request.method == "POST" and request.headers.get("content-type", "").startswith(FORM):
            params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers.items()}
        base = str(request.base_url).rstrip("/")
        endpoint, detail = meta_request_names(request.method, node, edge, params)
        return await sim.call(
            "meta",
            endpoint,
            node if node.startswith("act_") else "",
            lambda: sim.meta.handle(version, node, edge, params, headers, base, request.method),
            detail,
            tuple((k, "***" if k == "access_token" else v) for k, v in params.items()),
            credential_id(params.get("access_token") or headers.get("authorization", "").partition(" ")[2]),
        )

    routes = [
        Route("/shopify/{shop}/admin/api/{version}/graphql.json", shopify_graphql, methods=["POST"]),
        Route("/shopify-bulk/{name}", shopify_bulk_result, methods=["GET"]),
        Route("/meta/{version}/{node}/{edge}", meta_node, methods=["GET", "POST"]),
        Route("/meta/{version}/{node}", meta_node, methods=["GET"]),
        *google_ads_routes(sim),
        *admin.routes(sim),
    ]
    return Starlette(routes=routes)


@dataclass(frozen=True)
class SimulatorHandle:
    """Where a running simulator listens, and the values that point adspipe at it."""

    base_url: str

    @property
    def shopify_endpoint(self) -> str:
        return f"{self.base_url}/shopify/{{shop}}/admin/api/{{version}}/graphql.json"

    @property
    def meta_graph_url(self) -> str:
        return f"{self.base_url}/meta"

    @property
    def google_ads_url(self) -> str:
        return f"{self.base_url}/google-ads"

    @property
    def google_oauth_url(self) -> str:
        return f"{self.base_url}/google-oauth/token"

    @property
    def clock_url(self) -> str:
        return f"{self.base_url}/admin/clock"

    def env(self) -> dict[str, str]:
        """ADSPIPE_SHOPIFY_ENDPOINT, ADSPIPE_META_GRAPH_URL and ADSPIPE_CLOCK_URL for this simulator."""
        return {
            "ADSPIPE_SHOPIFY_ENDPOINT": self.shopify_endpoint,
            "ADSPIPE_META_GRAPH_URL": self.meta_graph_url,
            "ADSPIPE_CLOCK_URL": self.clock_url,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), **self.env()}


def bind(host: str = "127.0.0.1", port: int = 0) -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return sock, f"http://{shown}:{bound}"


def uvicorn_server(sim: Simulator, log_level: str = "warning") -> Any:
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(_DropFilter())
    config = uvicorn.Config(sim.app, log_level=log_level, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=1, timeout_keep_alive=30)  # fmt: skip
    return uvicorn.Server(config)


@contextlib.contextmanager
def run_simulator(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[SimulatorHandle]:
    """Serve `sim` with uvicorn in a background thread (port 0: a free port) until the block ends."""
    sock, base_url = bind(host, port)
    server = uvicorn_server(sim)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="adspipe-simulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the simulator did not start")
        time.sleep(0.005)
    try:
        yield SimulatorHandle(base_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
