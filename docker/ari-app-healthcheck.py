"""Container health of the ARI app: healthy while Asterisk lists our Stasis application, that is
while the app holds its events WebSocket, so that calls reach it rather than the fallback path,
and while its event loop turns (its heartbeat file is fresh): a hung app keeps its WebSocket.

Exits 0 when healthy, 1 (with the reason on stderr) otherwise.
"""

from __future__ import annotations

import base64
import sys
import time
import urllib.error
import urllib.request

from core.heartbeat import heartbeat_file
from core.secrets import ari_password
from core.settings import SettingsError, load_settings
from nachtdienst.supervisor import HUNG_AFTER


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 1
    heartbeat = heartbeat_file(settings, "ari")
    try:
        silent = time.time() - heartbeat.stat().st_mtime
    except OSError as exc:
        print(f"{heartbeat}: {exc.strerror}", file=sys.stderr)
        return 1
    if silent > HUNG_AFTER["ari"]:
        print(f"{heartbeat}: no sign of life for {silent:.0f} s: the app hangs", file=sys.stderr)
        return 1
    url = f"{settings.ari_url}/ari/applications/{settings.pbx.ari_app}"
    token = base64.b64encode(f"{settings.pbx.ari_user}:{ari_password(settings)}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5):
            return 0
    except urllib.error.HTTPError as exc:
        reason = "the Stasis app is not connected" if exc.code == 404 else f"HTTP {exc.code}"
        print(f"{url}: {reason}", file=sys.stderr)
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
