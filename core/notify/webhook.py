"""One notification POSTed as JSON to a webhook (Slack, Mattermost, or anything reading
`text`), with the stdlib's `urllib.request` and a timeout. A 2xx answer is delivered; anything
else (including a redirect, which would turn the POST into a GET) is a `DeliveryError`.

A webhook URL's path is usually its secret (Slack: /services/T…/B…/token): errors and logs
show only the scheme and host (`shown_url`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from core.notify import DeliveryError

WEBHOOK_TIMEOUT_S = 15.0
ERROR_BODY_MAX = 200


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError


_opener = urllib.request.build_opener(_NoRedirect)


def shown_url(url: str) -> str:
    """`https://hooks.slack.com/…`: where it goes, not its token."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def post_webhook(url: str, payload: dict[str, Any], *, timeout: float = WEBHOOK_TIMEOUT_S) -> None:
    """POST `payload` as JSON to `url`. Raises DeliveryError unless the answer is 2xx."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "nachtdienst"},
    )  # fmt: skip
    where = f"webhook {shown_url(url)}"
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as exc:
        detail = _error_body(exc)
        raise DeliveryError(f"{where}: HTTP {exc.code} {exc.reason}{': ' + detail if detail else ''}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = getattr(reason, "strerror", None) or str(reason)
        raise DeliveryError(f"{where}: cannot connect: {text}") from None
    except TimeoutError:
        raise DeliveryError(f"{where}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise DeliveryError(f"{where}: {exc.strerror or exc}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"{where}: HTTP {status}")


def _error_body(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(ERROR_BODY_MAX + 1).decode("utf-8", "replace")
    except OSError:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= ERROR_BODY_MAX else text[:ERROR_BODY_MAX] + "…"
