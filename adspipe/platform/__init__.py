"""The platform layer: what every platform package plugs into.

- `registry`: each platform package declares one `PlatformSpec` (`adspipe/<name>/platform.py`);
  definitions, the CLI, the checks, the doctor and the demo loop over them.
- `engine`: the one sync engine (per connection, per day: windows, failed days, commits, results,
  `sync_runs`); a platform supplies how to fetch, transform and write one day.
- `http`: `HttpClientBase` (a Dagster resource with one `httpx.Client`), `HttpSession.request` (one
  call with its retry loop, wait budget and deadline), the `Outcome` a platform's classifier returns
  for a response, and `CallStats`. Each platform keeps its own throttle model in its client and tells
  the base how long to wait through `Outcome.throttle(..., wait_s=)` or a `pace` hook.
"""
