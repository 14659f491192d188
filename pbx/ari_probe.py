"""A few synchronous ARI requests for `pbx status` and start-up checks (no event loop)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any


class AriUnreachable(Exception):
    """ARI did not answer usefully; the message is the reason shown to the sysadmin."""


def ari_get(base_url: str, user: str, password: str, path: str, timeout: float = 3.0) -> Any:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(f"{base_url}/ari{path}", headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise AriUnreachable("401 unauthorized (ARI user/password do not match ari.conf)") from None
        raise AriUnreachable(f"HTTP {exc.code} on {path}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AriUnreachable(f"{base_url}: {reason}") from None
    except json.JSONDecodeError:
        raise AriUnreachable(f"{path}: not JSON (is this Asterisk's HTTP server?)") from None
