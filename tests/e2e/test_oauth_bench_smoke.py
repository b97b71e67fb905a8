"""The OAuth benchmark still runs end to end against a real `ostiary serve` (one second per line,
no peers, no timing assertions), so it cannot rot. The peers run with the full bench only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "oauth_bench.py"


def test_oauth_bench_runs_against_a_real_server() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--no-node", "--no-dot"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["ostiary"]["client_credentials"] > 0
    assert figures["ostiary"]["introspection"] > 0
