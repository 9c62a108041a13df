"""The studies' trials keep their identity: every ``spec_id`` of the study configs is pinned.

A study is resumed, exported and re-analysed by ``spec_id`` (sha256 of the canonical spec JSON).
A change to ``TrialSpec``'s fields or defaults, to a component's resolved params, or to the
config files silently changes them: the next ``synprune sweep`` then reruns every trial beside
the stored ones. If a change is meant to do that, rerun the study and update the digest here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from synprune.config.loader import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: config -> (trials, sha256 of the sorted spec_ids joined by newlines)
PINNED = {
    "study.toml": (1029, "14f8836726cc222e49680b5ef94c8f74ab49f8d7f90de019d4bb2fccd17b37a5"),
    # seeds 0-2 of the first 0-5 plan: a subset of its spec_ids, so the stored runs are kept
    "paper-protocol.toml": (
        600,
        "3d984cdd639ec91c883f3e1613603e6043d769c112a95d3f1f8239368ec3d499",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_study_spec_ids_are_unchanged(name: str) -> None:
    ids = sorted(s.spec_id for s in load_config(CONFIGS / name).specs())
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    assert (len(ids), digest) == PINNED[name], (
        f"configs/{name}: the trials' spec_ids changed; a stored run of this study would no "
        "longer be recognised (rerun the study, then update PINNED)"
    )
