"""A sync in its own process, for the crash suite to SIGKILL in the middle of its page loop.

    python -m adspipe_tests.crash.worker shopify_fresh --now 2026-04-17T12:00:00Z --page-size 10
    python -m adspipe_tests.crash.worker meta_dates --now … --since 2026-03-01 --until 2026-03-10 --page-limit 25
    python -m adspipe_tests.crash.worker google_ads_dates --now … --since 2026-03-01 --until 2026-03-10
    python -m adspipe_tests.crash.worker shopify_days --now … --since 2026-03-01 --until 2026-03-20

The warehouse is ADSPIPE_DATABASE_URL, the APIs ADSPIPE_SHOPIFY_ENDPOINT / ADSPIPE_META_GRAPH_URL /
ADSPIPE_GOOGLE_ADS_URL and ADSPIPE_GOOGLE_OAUTH_URL (the simulator the test runs); the connections' token variables come from the environment.
Exit status 0 when every connection succeeded, 1 otherwise (the outcomes are printed).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta

from adspipe.clock import parse_instant
from adspipe.google_ads import sync as google_ads_sync
from adspipe.google_ads.client import GoogleAdsClient
from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.shopify import sync as shopify_sync
from adspipe.shopify.client import ShopifyClient
from adspipe.warehouse import db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="adspipe_tests.crash.worker")
    parser.add_argument("job", choices=["shopify_fresh", "meta_dates", "google_ads_dates", "shopify_days"])
    parser.add_argument("--now", required=True, type=parse_instant)
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--page-limit", type=int, default=500)
    parser.add_argument("--since", type=date.fromisoformat)
    parser.add_argument("--until", type=date.fromisoformat)
    parser.add_argument("--report-poll-s", type=float, default=None, help="first report-run poll wait")
    args = parser.parse_args(argv)
    engine = db.get_engine()
    days = (
        [args.since + timedelta(days=i) for i in range((args.until - args.since).days + 1)]
        if args.since
        else []
    )
    if args.job == "shopify_fresh":
        report = shopify_sync.shopify_fresh(engine, ShopifyClient(page_size=args.page_size), args.now).report
    elif args.job == "shopify_days":  # a partition range (the bulk path for old days)
        report = shopify_sync.sync_days(engine, ShopifyClient(), days, now=args.now).report
    elif args.job == "meta_dates":
        polls = {} if args.report_poll_s is None else {"report_poll_first_s": args.report_poll_s}
        report = meta_sync.run_dates(
            engine, MetaClient(page_limit=args.page_limit, **polls), days, now=args.now
        ).report
    else:
        report = google_ads_sync.run_dates(engine, GoogleAdsClient(), days, now=args.now).report
    for outcome in report.outcomes:
        print(f"{outcome.connection.account_id}: {outcome.status} {outcome.error or ''}", flush=True)
    return 0 if all(o.status == "success" for o in report.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
