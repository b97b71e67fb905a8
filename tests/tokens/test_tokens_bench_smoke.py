"""The token bench runs (`--quick`), so it cannot rot. No timing assertions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tokens_bench.py"


def test_tokens_bench_quick_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "method: in-process ASGI" in result.stdout
    assert "/auth/me bearer, verified-token cache" in result.stdout
    assert "token refresh over HTTP /s" in result.stdout
