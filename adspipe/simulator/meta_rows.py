"""Insights rows of the simulated Meta API: grouping by level, and the `actions` /
`action_values` lists with their per-window keys (see `ads.py` for how conversions split into
windows). Every number is a string, as Meta sends it."""

from __future__ import annotations

from datetime import date
from typing import Any

from adspipe.simulator.ads import AdDayView
from adspipe.simulator.util import cents_fixed
from adspipe.simulator.world import AccountSpec


def group_key(acct: AccountSpec, v: AdDayView, level: str) -> str:
    if level == "ad":
        return v.ad.ad_id
    if level == "adset":
        return acct.adsets[v.ad.adset][0]
    if level == "campaign":
        return acct.campaigns[acct.adsets[v.ad.adset][2]][0]
    return acct.account_id


def action_list(views: list[AdDayView], values: bool, windows: list[str]) -> list[dict[str, str]]:
    totals: dict[str, int] = {}

    def add(kind: str, n: int) -> None:
        if n > 0:
            totals[kind] = totals.get(kind, 0) + n

    for v in views:
        add("link_click", 0 if values else v.link_clicks)
        add("landing_page_view", 0 if values else v.landing_page_views)
        for kind in ("add_to_cart", "omni_add_to_cart"):
            add(kind, v.add_to_cart_cents if values else v.add_to_cart)
        pixel = v.pixel_purchase_cents if values else v.pixel_purchases
        if v.has_omni:
            everything = v.purchase_cents if values else v.purchases
            add("omni_purchase", everything)
            add("purchase", everything)
        add("offsite_conversion.fb_pixel_purchase", pixel)
        add("onsite_web_purchase", pixel)
    pick = (1, 3) if values else (0, 2)  # (all, pixel) in a window's (n, cents, pixel n, pixel cents)
    out = []
    for kind in sorted(totals):  # alphabetical: the pixel type comes before omni_purchase
        n = totals[kind]
        entry = {"action_type": kind, "value": cents_fixed(n) if values else str(n)}
        for w in windows:
            if kind in ("omni_purchase", "purchase"):  # only ads that report omni; every conversion
                k = sum(v.window(w)[pick[0]] for v in views if v.has_omni)
            elif kind in ("offsite_conversion.fb_pixel_purchase", "onsite_web_purchase"):
                k = sum(v.window(w)[pick[1]] for v in views)
            else:  # other actions: click-through only
                k = {"1d_click": n * 7 // 10, "7d_click": n, "28d_click": n}.get(w, 0)
            entry[w] = cents_fixed(k) if values else str(k)
        out.append(entry)
    return out


def insights_row(
    acct: AccountSpec,
    views: list[AdDayView],
    level: str,
    fields: list[str],
    windows: list[str],
    lo: date,
    hi: date,
) -> dict[str, Any]:
    first = views[0]
    adset = acct.adsets[first.ad.adset]
    campaign = acct.campaigns[adset[2]]
    spend = sum(v.spend_cents for v in views)
    impressions = sum(v.impressions for v in views)
    clicks = sum(v.clicks for v in views)
    reach = sum(v.reach for v in views)
    ids = {"account": 0, "campaign": 1, "adset": 2, "ad": 3}[level]
    values: dict[str, Any] = {
        "account_id": acct.account_id, "account_name": acct.name, "account_currency": acct.currency,
        "objective": "OUTCOME_SALES", "spend": cents_fixed(spend), "impressions": str(impressions),
        "clicks": str(clicks), "reach": str(reach), "frequency": f"{impressions / max(1, reach):.6f}",
        "cpm": f"{spend * 10 / max(1, impressions):.6f}", "ctr": f"{clicks * 100 / max(1, impressions):.6f}",
        "inline_link_clicks": str(sum(v.link_clicks for v in views)),
    }  # fmt: skip
    if clicks:
        values["cpc"] = f"{spend / 100 / clicks:.6f}"
    if ids >= 1:
        values |= {"campaign_id": campaign[0], "campaign_name": campaign[1]}
    if ids >= 2:
        values |= {"adset_id": adset[0], "adset_name": adset[1]}
    if ids >= 3:
        values |= {"ad_id": first.ad.ad_id, "ad_name": first.ad.name}
    # Meta leaves out an empty list rather than sending []
    actions, action_values = action_list(views, False, windows), action_list(views, True, windows)
    if actions:
        values["actions"] = actions
    if action_values:
        values["action_values"] = action_values
    row = {name: values[name] for name in fields if name in values}
    row["date_start"], row["date_stop"] = lo.isoformat(), hi.isoformat()
    return row
