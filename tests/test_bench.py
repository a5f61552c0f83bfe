"""The benches' own arithmetic: what they report must be right before their figures are."""

import importlib.util
from pathlib import Path

import pytest


def _bench(name: str):
    path = Path(__file__).parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_lead_calls_a_lead_only_when_its_interval_excludes_zero():
    lead = _bench("probe_per_minute").paired_lead
    steady = lead([0.990, 0.991, 0.989], [0.988, 0.9895, 0.987])  # leads 0.002, 0.0015, 0.002
    assert steady["wins"] == "3 of 3"
    assert steady["mean"] == pytest.approx(0.00183, abs=1e-5)
    # sd of the leads 0.000289, se 0.000167, t(2) 4.303: half-width 0.00072
    assert steady["ci95"] == pytest.approx([0.00112, 0.00255], abs=2e-5)
    mixed = lead([0.987, 0.983, 0.986], [0.988, 0.986, 0.985])  # -0.001, -0.003, +0.001
    assert mixed["wins"] == "1 of 3"
    assert mixed["ci95"][0] < 0 < mixed["ci95"][1]
    assert "ci95" not in lead([0.99], [0.98])  # one seed: no spread to judge by
    with pytest.raises(ValueError, match="paired seeds"):
        lead([0.99, 0.98], [0.98])
