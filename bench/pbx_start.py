"""How long `nachtdienst pbx start` takes with the Debian root cached, against a bare start of
the same Asterisk with the same (already rendered) configuration, in the same run.

    .venv/bin/python bench/pbx_start.py [--rounds 5] [--cold]

`--cold` also builds a fresh root in a temporary directory first (about a minute) and reports
that first start. Runs on test ports (SIP 45060, ARI 48088), beside a running line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NACHTDIENST = REPO / ".venv" / "bin" / "nachtdienst"


def _env(data_dir: Path, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NACHTDIENST_")}
    env.update(
        NACHTDIENST_DATA_DIR=str(data_dir),
        NACHTDIENST_PBX__ROOT_DIR=str(root),
        NACHTDIENST_PBX__SIP_PORT="45060",
        NACHTDIENST_PBX__ARI_PORT="48088",
        NACHTDIENST_PBX__RTP_START="40000",
        NACHTDIENST_PBX__RTP_END="40998",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(NACHTDIENST), *args], env=env, check=True, capture_output=True, timeout=900)
    return time.perf_counter() - started


def _bare_start(env: dict[str, str]) -> float:
    """chroot + asterisk + wait for ARI, nothing else: the floor any start has to pay."""
    sys.path.insert(0, str(REPO))
    os.environ.update({k: v for k, v in env.items() if k.startswith("NACHTDIENST_")})
    from core.secrets import ari_password
    from core.settings import load_settings
    from pbx import control
    from pbx.ari_probe import AriUnreachable, ari_get

    settings = load_settings()
    state = control.start(settings, log=lambda _: None)  # renders the configuration once
    control.stop(settings, log=lambda _: None)
    installation = state.installation
    if installation.root:
        subprocess.run(["mount", "-t", "proc", "proc", str(installation.root / "proc")], check=False)
    started = time.perf_counter()
    process = subprocess.Popen(
        installation.command("asterisk", "-f", "-U", "asterisk", "-G", "asterisk", "-C", state.config),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            ari_get(settings.ari_url, settings.pbx.ari_user, ari_password(settings), "/asterisk/info", timeout=1)
            break
        except AriUnreachable:
            time.sleep(0.05)
    elapsed = time.perf_counter() - started
    process.terminate()
    process.wait()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="also build a fresh root and time the first start")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nd-bench-"))
    root = REPO / "data" / "asterisk-root"
    if args.cold:
        root = work / "asterisk-root"
    env = _env(work / "data", root)
    try:
        if args.cold:
            first = _cli(env, "pbx", "start")
            _cli(env, "pbx", "stop")
            print(f"first start (builds the root): {first:.1f} s")
        else:
            _cli(env, "pbx", "start")  # make sure the root exists before timing
            _cli(env, "pbx", "stop")
        ours, bare = [], []
        for _ in range(args.rounds):
            ours.append(_cli(env, "pbx", "start"))
            _cli(env, "pbx", "stop")
            bare.append(_bare_start(env))
        p50_ours, p50_bare = statistics.median(ours), statistics.median(bare)
        print(f"cached `nachtdienst pbx start`: median {p50_ours:.2f} s (max {max(ours):.2f} s) over {args.rounds} rounds")
        print(f"bare chroot asterisk to ARI ready: median {p50_bare:.2f} s")
        print(f"ratio ours/bare: {p50_ours / p50_bare:.2f}")
    finally:
        subprocess.run([str(NACHTDIENST), "pbx", "stop"], env=env, capture_output=True)
        if args.cold and root.exists():
            subprocess.run(["umount", str(root / "proc")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
