"""Security guards from issue 7: safe checkpoint loading, no secrets in tracked params/tags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "synprune"


def test_every_torch_load_in_the_package_is_weights_only() -> None:
    calls = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            calls.append((path, m.group(1)))
    unsafe = [
        f"{p.relative_to(PACKAGE)}: torch.load({a})"
        for p, a in calls
        if "weights_only=True" not in a
    ]
    assert not unsafe, f"checkpoints must load with weights_only=True: {unsafe}"


def test_environment_secrets_never_reach_run_params_or_tags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from synprune.experiment.results import TrialResult
    from synprune.experiment.spec import ComponentSpec, TrialSpec
    from synprune.tracking.writer import trial_record

    secret = "s3cr3t-DO-NOT-LOG"
    for var in (
        "MLFLOW_TRACKING_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "RAY_AUTH_TOKEN",
        "POSTGRES_PASSWORD",
    ):
        monkeypatch.setenv(var, secret)
    spec = TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm"),
        regularizer=ComponentSpec("none"),
        seq_len=4,
    )
    result = TrialResult(spec=spec.to_dict(), spec_id=spec.spec_id, test_mae=1.0)
    record = trial_record(result)
    logged = repr(record.__dict__)
    assert secret not in logged
    assert spec.spec_id in logged  # the record is the real one, with the trial's identity
