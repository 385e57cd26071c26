"""Shared test fixtures: the repository on sys.path, the original's golden reference data, small inputs."""
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path[:0] = [str(ROOT), str(GOLDEN)]

import detweights  # noqa: E402  (the original's deterministic weights, from ../shared/golden)

torch.set_num_threads(2)


def golden_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """Deterministic weights in the original's layout for one variant (spec_<variant>.json)."""
    return detweights.state_dict_from_spec(detweights.load_spec(GOLDEN / f"spec_{variant}.json"))


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN
