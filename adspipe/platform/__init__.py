"""What every platform's API client shares: the HTTP session, retries, waits and their statistics.

`adspipe.platform.http` holds `HttpClientBase` (a Dagster resource with one `httpx.Client`),
`HttpSession.request` (one call with its retry loop, wait budget and deadline), the `Outcome` a
platform's classifier returns for a response, and `CallStats`. Each platform keeps its own
throttle model (how full a bucket is, usage headers, quota errors) in its client and tells the
base how long to wait through `Outcome.throttle(..., wait_s=)` or a `pace` hook.
"""
