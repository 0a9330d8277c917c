"""Google Ads, in the shared platform layout (docs/architecture.md, "Layout").

- `settings`: the pinned API version (v26) and `SUPPORT_ENDS`, the base and OAuth URLs
  (`ADSPIPE_GOOGLE_ADS_URL`, `ADSPIPE_GOOGLE_OAUTH_URL`), the GAQL, headers, error names, the
  conversion-lag refresh window (30 days by default, 1–90) and retry defaults.
- `client`: `GoogleAdsClient`, a Dagster resource on `adspipe.platform.http.HttpClientBase`;
  `client.session(refresh_token_env=…, login_customer_id=…)` exchanges the refresh token for an
  access token (cached until shortly before it expires) and reads `customer_info(customer_id)`,
  `ad_day(customer_id, day)` and `ad_days(customer_id, since, until)` through `googleAds:searchStream`.
- `transforms`: customer ids (10 digits, dashes optional), a result row → `AdRow` → `AdFact`
  (spend exact from micros, conversions and their value as Decimals).

- `tables`: `google_ads_raw`, `fact_google_ads_daily` and the `connections.login_customer_id` option.
- `load`, `unit`, `sync`, `report`, `assets`, `defs`, `cli`, `platform`: as in every platform package.
"""
