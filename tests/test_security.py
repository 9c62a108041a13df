"""Security guards (issues 7 and 11): no unsafe deserialisation anywhere in the package, and
no secrets in tracked params/tags.

The deserialisation guard parses every module (``ast``, import aliases resolved) and flags
calls that can run code from a file: ``pickle``/``cloudpickle``/``dill``/``joblib``/``marshal``
loads, ``torch.load`` without ``weights_only=True``, ``numpy.load(allow_pickle=True)``,
``yaml.load`` without a safe loader, ``pandas.read_pickle``, ``shelve.open``, and the Ray calls
that unpickle what a trial or an earlier driver left in Ray storage (``get_pickled_error``,
``pickled_error_file``, ``Tuner.restore``). A planted module proves the scanner finds each.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "synprune"

#: qualified call -> why it is unsafe (any call of these)
_ALWAYS = {
    "pickle.load": "unpickles",
    "pickle.loads": "unpickles",
    "pickle.Unpickler": "unpickles",
    "cloudpickle.load": "unpickles",
    "cloudpickle.loads": "unpickles",
    "ray.cloudpickle.load": "unpickles",
    "ray.cloudpickle.loads": "unpickles",
    "dill.load": "unpickles",
    "dill.loads": "unpickles",
    "joblib.load": "unpickles",
    "marshal.load": "unmarshals code",
    "marshal.loads": "unmarshals code",
    "shelve.open": "unpickles",
    "pandas.read_pickle": "unpickles",
    "yaml.unsafe_load": "constructs arbitrary objects",
    "yaml.full_load": "constructs arbitrary objects",
    "ray.tune.Tuner.restore": "unpickles Tune state from Ray storage",
}
#: attribute names that read pickles from Ray storage, whatever the receiver
_ATTRIBUTES = {"get_pickled_error", "pickled_error_file"}
_SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader"}


def _aliases(tree: ast.AST) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _qualified(node: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([aliases.get(node.id, node.id), *reversed(parts)])


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def unsafe_calls(source: str, filename: str = "<planted>") -> list[tuple[int, str]]:
    """(line, what) for each unsafe deserialisation in ``source``."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _ATTRIBUTES:
            found.append((node.lineno, f".{node.attr}: reads a pickle from Ray storage"))
        if not isinstance(node, ast.Call):
            continue
        name = _qualified(node.func, aliases) or ""
        if name in _ALWAYS:
            found.append((node.lineno, f"{name}: {_ALWAYS[name]}"))
        elif name == "torch.load":
            weights_only = _kw(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append((node.lineno, "torch.load without weights_only=True"))
        elif name == "numpy.load":
            allow = _kw(node, "allow_pickle")
            if isinstance(allow, ast.Constant) and allow.value is True:
                found.append((node.lineno, "numpy.load(allow_pickle=True)"))
        elif name == "yaml.load":
            loader = _kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            loader_name = (_qualified(loader, aliases) or "") if loader is not None else ""
            if loader_name.rsplit(".", 1)[-1] not in _SAFE_YAML_LOADERS:
                found.append((node.lineno, "yaml.load without a safe Loader"))
    return sorted(found)


PLANTED = textwrap.dedent("""
    import pickle
    import pickle as pk
    import numpy as np
    import torch
    import yaml
    from ray import cloudpickle, tune
    from ray.tune import Tuner
    from pickle import loads as unpickle

    pickle.loads(b"")                                   # unsafe
    pk.load(open("f", "rb"))                            # unsafe
    unpickle(b"")                                       # unsafe
    cloudpickle.loads(b"")                              # unsafe
    torch.load("m.pt")                                  # unsafe
    torch.load("m.pt", weights_only=False)              # unsafe
    torch.load("m.pt", map_location="cpu", weights_only=True)
    np.load("a.npy", allow_pickle=True)                 # unsafe
    np.load("a.npy")
    yaml.load(open("c.yaml"))                           # unsafe
    yaml.load(open("c.yaml"), Loader=yaml.SafeLoader)
    yaml.safe_load(open("c.yaml"))
    tune.Tuner.restore("/x", trainable=None)            # unsafe
    Tuner.restore("/x", trainable=None)                 # unsafe
    exc = trial.get_pickled_error()                     # unsafe
    open(trial.pickled_error_file, "rb")                # unsafe
    trial.get_error()
""")


def test_the_scanner_finds_every_planted_unsafe_call_and_nothing_else() -> None:
    marked = [i for i, ln in enumerate(PLANTED.splitlines(), 1) if ln.endswith("# unsafe")]
    assert len(marked) == 12
    assert [line for line, _ in unsafe_calls(PLANTED)] == marked


def test_no_unsafe_deserialisation_in_the_package() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50  # the whole package is scanned, not an empty folder
    unsafe = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path in modules
        for line, what in unsafe_calls(path.read_text(), str(path))
    ]
    assert not unsafe, "unsafe deserialisation:\n" + "\n".join(unsafe)


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
    result = TrialResult(spec=spec, test_mae=1.0)
    record = trial_record(result)
    logged = repr(record.__dict__)
    assert secret not in logged
    assert spec.spec_id in logged  # the record is the real one, with the trial's identity


# -- issue 20.17: a password in a store URI never reaches what the user or MLflow keeps -------
@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql+psycopg2://u:secret@h/db", "postgresql+psycopg2://u:***@h/db"),
        ("http://u:secret@h:5000", "http://u:***@h:5000"),
        ("https://h/path?token=secret&x=1", "https://h/path?token=***&x=1"),
        ("mysql://u@h/db", "mysql://u@h/db"),
        ("sqlite:////abs/mlflow.db", "sqlite:////abs/mlflow.db"),
        ("./folder", "./folder"),
    ],
)
def test_redact_removes_passwords_and_only_them(uri: str, shown: str) -> None:
    from synprune.tracking.uri import redact, redact_text

    assert redact(uri) == shown
    assert redact_text(f'storage = "{uri}"\n', uri) == f'storage = "{shown}"\n'
    if "?" not in uri:  # a user:password@ is found even without the URI at hand
        assert redact_text(f"at {uri}.") == f"at {shown}."


@pytest.mark.parametrize("verb", ["stats", "export", "ui"])
def test_no_password_in_the_error_line_of_any_verb(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from builders import dead_port, store_reader_argv

    from synprune.cli.main import main

    port = dead_port()
    uri = f"http://alice:hunter2@127.0.0.1:{port}"
    assert main(store_reader_argv(verb, uri, tmp_path, "x")) == 2
    out = capsys.readouterr()
    assert f"http://alice:***@127.0.0.1:{port}" in out.err and "hunter2" not in out.err + out.out


@pytest.mark.ray
def test_a_real_sweep_keeps_no_password_of_its_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 1-trial, 1-epoch sweep whose config names a PostgreSQL Optuna storage with a password:
    no file of the store (SQLite database, artifacts -- the logged config -- Ray results), no
    MLflow param or tag, and no console line holds the password; then `stats` and `export`
    on the store do not either."""
    from mlflow.tracking import MlflowClient

    from synprune.cli.main import main

    secret = "pw-hunter2-XYZ"
    cfg = tmp_path / "secret.toml"
    cfg.write_text(
        'experiment = "redact"\n[grid]\nmodel = ["lstm"]\ndataset = ["synthetic"]\n'
        'regularizer = ["none", "dropout"]\nseq_len = [8]\nseed = [0]\n'
        "[train]\nepochs = 1\n[models.lstm]\nhidden_size = 4\n[resources]\ncpu = 1\n"
        f'[tuning]\nstorage = "postgresql://optuna:{secret}@db.example:5432/optuna"\n'
    )
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    assert main(["sweep", "--config", str(cfg), "--tracking-uri", uri, "--num-cpus", "2"]) == 0
    rc_stats = main(["stats", "--experiment", "redact", "--tracking-uri", uri,
                     "--out", str(tmp_path / "report")])  # fmt: skip
    assert rc_stats in (0, 2)  # 1 block x 2 arms may be too small to rank; what it says counts
    assert main(["export", "--experiment", "redact", "--tracking-uri", uri,
                 "--out", str(tmp_path / "t.csv")]) == 0  # fmt: skip
    console = capsys.readouterr()
    assert secret not in console.out + console.err
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != cfg]
    assert any(p.name == "secret.toml" for p in files)  # the logged config is among them
    leaked = [str(p) for p in files if secret.encode() in p.read_bytes()]
    assert not leaked, f"password in {leaked}"
    logged = next(p for p in files if p.name == "secret.toml")
    assert "postgresql://optuna:***@db.example:5432/optuna" in logged.read_text()
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("redact")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) >= 3  # the sweep run and its 2 trials
    for run in runs:
        assert secret not in repr(run.data.params) + repr(run.data.tags)
