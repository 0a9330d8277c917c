"""Admin endpoints of the simulator (no token: it only ever listens on a local port).

- `GET  /admin/clock` → `{"now": "<ISO-8601 UTC, Z>", "speed": 1.0}` (what adspipe.clock reads);
  `POST /admin/clock` with any of `{"now": ISO}`, `{"advance_s": 3600}`, `{"advance_days": 1}`,
  `{"speed": 0}` → the new clock.
- `GET  /admin/faults` → every knob; `POST /admin/faults` with `{knob: value, …}` → the knobs.
- `GET  /admin/stats` → requests per platform and outcome, Shopify buckets, Meta usage meters.
- `GET  /admin/world` → stores, shop domains, ad accounts, time zones, currencies.
- `GET  /admin/truth?kind=store|shopify|orders|meta|ads&store=…|account=act_…&since=…&until=…
  [&at=ISO][&statuses=ACTIVE,PAUSED|all][&windows=7d_click,1d_view]` (statuses default all) → ground truth rows (money as exact strings).
- `GET  /admin/requests[?platform=shopify|meta][&limit=N]` → the request log, newest last.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adspipe.simulator.truth import to_json
from adspipe.simulator.util import local_date, parse_instant

if TYPE_CHECKING:
    from adspipe.simulator.server import Simulator


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def routes(sim: Simulator) -> list[Route]:
    def clock_state() -> dict[str, Any]:
        return {"now": sim.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "speed": sim.clock.speed}

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _body(request)
                if "now" in body:
                    sim.clock.set(parse_instant(str(body["now"])))
                if "advance_s" in body or "advance_days" in body:
                    seconds = float(body.get("advance_s", 0)) + 86400 * float(body.get("advance_days", 0))
                    sim.clock.advance(timedelta(seconds=seconds))
                if "speed" in body:
                    sim.clock.set_speed(float(body["speed"]))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return JSONResponse(clock_state())

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                sim.faults.update(**await _body(request))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return JSONResponse(sim.faults.to_dict())

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "now": clock_state()["now"],
                "requests": sim.counts(),
                "shopify_buckets": sim.shopify.bucket_state(),
                "meta_usage": sim.meta.usage.state(),
            }
        )

    async def world(request: Request) -> Response:
        return JSONResponse(sim.world.describe())

    async def truth(request: Request) -> Response:
        q = request.query_params
        kind = q.get("kind", "store")
        try:
            at = parse_instant(q["at"]) if q.get("at") else None
            statuses_raw = q.get("statuses", "all")  # the pipeline's default filter keeps every status
            statuses = None if statuses_raw == "all" else tuple(s for s in statuses_raw.split(",") if s)
            windows = tuple(w for w in q.get("windows", "").split(",") if w) or None
            if kind in ("meta", "ads"):
                account = sim.truth.account(q.get("account", ""))
                tz = account.timezone
            else:
                store = sim.truth.store(_store_ref(q.get("store", "0")))
                tz = store.timezone
            today = local_date(tz, (at or sim.clock.now()).timestamp())
            until = date.fromisoformat(q["until"]) if q.get("until") else today
            since = date.fromisoformat(q["since"]) if q.get("since") else until - timedelta(days=6)
            if since > until or (until - since).days > 400:
                return _bad("since must be on or before until, at most 400 days apart")
            rows: list[Any]
            if kind == "store":
                rows = sim.truth.store_daily(store, since, until, at=at, statuses=statuses, windows=windows)
            elif kind == "shopify":
                rows = sim.truth.shopify_daily(store, since, until, at=at)
            elif kind == "orders":
                rows = sim.truth.orders(store, since, until, at=at)
            elif kind == "meta":
                rows = sim.truth.meta_daily(account, since, until, at=at, statuses=statuses, windows=windows)
            elif kind == "ads":
                rows = [r for i in range((until - since).days + 1)
                        for r in sim.truth.ads(account, since + timedelta(days=i), at=at, statuses=statuses, windows=windows)]  # fmt: skip
            else:
                return _bad("kind must be one of store, shopify, orders, meta, ads")
        except KeyError as exc:
            return _bad(f"unknown or missing: {exc}")
        except ValueError as exc:
            return _bad(str(exc))
        return JSONResponse(
            {"kind": kind, "since": since.isoformat(), "until": until.isoformat(), "rows": to_json(rows)}
        )

    async def requests(request: Request) -> Response:
        platform = request.query_params.get("platform") or None
        limit = int(request.query_params.get("limit", "1000"))
        log = sim.request_log(platform)[-limit:] if limit > 0 else []
        return JSONResponse([asdict(r) for r in log])

    return [
        Route("/admin/clock", clock, methods=["GET", "POST"]),
        Route("/admin/faults", faults, methods=["GET", "POST"]),
        Route("/admin/stats", stats, methods=["GET"]),
        Route("/admin/world", world, methods=["GET"]),
        Route("/admin/truth", truth, methods=["GET"]),
        Route("/admin/requests", requests, methods=["GET"]),
    ]


def _store_ref(value: str) -> str | int:
    return int(value) if value.isdigit() and len(value) < 4 else value
