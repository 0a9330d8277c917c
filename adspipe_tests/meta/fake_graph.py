"""A tiny scripted Graph API for the sync tests that do not need the full simulator.

It serves the account read and the insights edge (status filter, paging by `limit`, both levels)
from a dict of rows, records every request, and can be told to throttle from a given call on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx


@dataclass
class FakeAccount:
    timezone: str
    currency: str = "USD"
    # date -> list of (ad_id, status, spend, purchases, purchase_value)
    ads: dict[date, list[tuple[str, str, str, int, str]]] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    params: dict[str, str]


class FakeGraph:
    def __init__(self, accounts: dict[str, FakeAccount]) -> None:
        self.accounts = accounts
        self.requests: list[Request] = []
        self.throttle_from: int | None = None  # 0-based call index from which every call is throttled
        self.auth_fail: set[str] = set()
        self.fail_days: set[str] = set()  # insights of these days answer HTTP 503, every time
        self.served_version: str | None = None  # the facebook-api-version header (None: as asked)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def insights_days(self, account: str, level: str = "ad") -> list[str]:
        return [
            json.loads(r.params["time_range"])["since"]
            for r in self.requests
            if r.path.endswith(f"{account}/insights")
            and r.params.get("level") == level
            and "after" not in r.params
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Every answer names the version that served it, as Meta's `facebook-api-version` does
        (`served_version`, else the version in the path)."""
        response = self._answer(request)
        version = self.served_version or urlsplit(str(request.url)).path.strip("/").split("/")[0]
        response.headers.setdefault("facebook-api-version", version)
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        index = len(self.requests)
        self.requests.append(Request(url.path, params))
        parts = url.path.strip("/").split("/")  # [version, act_x] or [version, act_x, insights]
        account_id = parts[1]
        if account_id in self.auth_fail:
            return httpx.Response(
                400,
                json={
                    "error": {"message": "Error validating access token", "code": 190, "error_subcode": 463}
                },
            )
        if self.throttle_from is not None and index >= self.throttle_from:
            return httpx.Response(400, json={"error": {"message": "too many calls", "code": 80000}})
        account = self.accounts[account_id]
        if len(parts) == 2:
            return httpx.Response(
                200, json={"id": account_id, "timezone_name": account.timezone, "currency": account.currency}
            )
        span = json.loads(params["time_range"])
        since = span["since"]
        if since in self.fail_days:
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        day = date.fromisoformat(since)
        ads = account.ads.get(day, [])
        if params["level"] == "account":
            # One row per day with delivery over since..until (time_increment=1), like Meta.
            rows: list[dict[str, Any]] = []
            current, last = day, date.fromisoformat(span["until"])
            while current <= last:
                total = sum(int(a[2].replace(".", "")) for a in account.ads.get(current, []))
                if account.ads.get(current):
                    rows.append({"account_currency": account.currency, "spend": f"{total // 100}.{total % 100:02d}",
                                 "date_start": current.isoformat(), "date_stop": current.isoformat()})  # fmt: skip
                current += timedelta(days=1)
        else:
            allowed = json.loads(params["filtering"])[0]["value"]
            rows = [
                {"ad_id": ad, "adset_id": "s", "campaign_id": "c", "account_currency": account.currency, "spend": spend,
                 "impressions": "10", "clicks": "1", "reach": "9", "date_start": since, "date_stop": since,
                 "actions": [{"action_type": t, "value": str(purchases)} for t in ("purchase", "omni_purchase")],
                 "action_values": [{"action_type": "omni_purchase", "value": value}]}
                for ad, status, spend, purchases, value in ads if status in allowed
            ]  # fmt: skip
        limit = int(params.get("limit", "500"))
        offset = int(params.get("after", "0"))
        body: dict[str, Any] = {"data": rows[offset : offset + limit]}
        if offset + limit < len(rows):
            nxt = {**params, "after": str(offset + limit), "access_token": "leaked"}
            body["paging"] = {"next": f"https://graph.facebook.com{url.path}?{urlencode(nxt)}"}
        return httpx.Response(200, json=body)
