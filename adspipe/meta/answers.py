"""What a Meta answer means: a good body, or the kind of failure that decides what happens next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from adspipe import jsonio
from adspipe.meta import settings


@dataclass(frozen=True)
class Failure:
    kind: str  # throttle | auth | reduce | transient | permanent | deprecated
    description: str


def classify(response: httpx.Response) -> dict[str, Any] | Failure:
    """The JSON body of a good answer, or what kind of failure this is."""
    status = response.status_code
    try:
        body = jsonio.loads(response.content)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if status == 200 and isinstance(body, dict) and error is None:
        return body
    if not isinstance(error, dict):
        if status == 200:
            return Failure("transient", "malformed response body (not a JSON object)")
        if status == 429:
            return Failure("throttle", "HTTP 429")
        if status == 401:
            return Failure("auth", "HTTP 401")
        if status >= 500:
            return Failure("transient", f"HTTP {status}")
        return Failure("permanent", f"HTTP {status}")
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = str(error.get("message", ""))[:300]
    if code == settings.DEPRECATED_VERSION_CODE:
        return Failure("deprecated", message)
    text = f"HTTP {status}, code {code}" + (f"/{subcode}" if subcode else "") + f": {message}"
    if code == settings.AUTH_CODE or status == 401:
        return Failure("auth", text)
    if code in settings.THROTTLE_CODES or status == 429:
        return Failure("throttle", text)
    if code == settings.REDUCE_DATA_CODE:
        return Failure("reduce", text)
    if code in settings.TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
        return Failure("transient", text)
    return Failure("permanent", text)
