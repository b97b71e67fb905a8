"""The policy benchmark still runs (tiny sizes, no timing assertions) so it cannot rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "policy_bench.py"


def test_policy_bench_runs_on_tiny_sets(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("casbin")
    pytest.importorskip("cedarpy")
    spec = importlib.util.spec_from_file_location("policy_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["policy_bench"] = module
    try:
        spec.loader.exec_module(module)
        lines = module.main(budget_s=0.005, small=module.RbacSet(20, 200), large=module.RbacSet(200, 2_000))
    finally:
        sys.modules.pop("policy_bench", None)
    assert [line.split(" ")[0] for line in lines] == [
        "rbac-small",
        "rbac-small",
        "rbac-growth",
        "rbac-growth",
        "abac",
    ]
    assert "→" in capsys.readouterr().out
