"""Issue 20.13-20.15: bad inputs that used to hang, print a traceback or pass silently.

Each goes through the real CLI (``synprune.cli.main.main``) on real files and stores in a temp
folder and must end in ONE line on stderr naming the key / file / flag, exit status 2, before
any work starts, with nothing created (no store, no output file) -- or, for the "silently
accepted" ones that are legitimate, one warning line.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from builders import dead_port, finished_result, small_spec, store_reader_argv, train_argv

from synprune.cli.main import main

BASE = """\
experiment = "bad-inputs"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none"]
seq_len = [8]
seed = [0]
[train]
epochs = 1
[models.lstm]
hidden_size = 8
"""


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run ``synprune argv``; assert exit 2, one stderr line holding every needle, and no
    traceback; returns the line."""
    t0 = time.perf_counter()
    rc = main(argv)
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"
    assert seconds < 30, f"took {seconds:.0f} s: {err}"
    return err


def _config(tmp_path: Path, text: str, name: str = "c.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _sweep(tmp_path: Path, cfg: str, *extra: str) -> list[str]:
    return ["sweep", "--config", cfg, "--tracking-uri", f"sqlite:///{tmp_path}/runs/m.db", *extra]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real SQLite store: one experiment 'exp' with two finished trials (the real writer)."""
    from synprune.tracking.writer import Tracker, trial_record

    uri = f"sqlite:///{tmp_path_factory.mktemp('st') / 'mlflow.db'}"
    tracker = Tracker(uri, "exp", spool=False)
    parent = tracker.start_parent("sweep-1", None, {}, {})
    for seed in (0, 1):
        tracker.write(trial_record(finished_result(small_spec("gru", seed=seed)), parent))
    return uri


# -- 13. hangs --------------------------------------------------------------------------------
def test_cpu_above_the_local_ray_is_refused_before_ray_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, BASE + "[resources]\ncpu = 4\n")
    _refused(
        capsys,
        _sweep(tmp_path, cfg, "--num-cpus", "2"),
        "[resources].cpu=4 needs 4 CPUs per trial",
        "local Ray has 2 (--num-cpus 2)",
    )
    have = os.cpu_count() or 1
    cfg = _config(tmp_path, BASE + f"[resources]\ncpu = {have + 1}\n")
    _refused(capsys, _sweep(tmp_path, cfg), f"local Ray has {have}")
    assert not (tmp_path / "runs").exists()


def test_a_grid_of_ten_million_points_is_counted_not_expanded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ten = ", ".join(str(i) for i in range(1, 11))
    sweeps = "".join(
        f"train.{f} = [{ten}]\n"
        for f in (
            "batch_size",
            "patience",
            "epochs",
            "min_epochs",
            "grad_clip",
            "lr",
            "num_threads",
        )
    )
    text = BASE.replace("seed = [0]\n", "seed = [0]\n" + sweeps)
    _refused(
        capsys,
        _sweep(tmp_path, _config(tmp_path, text)),
        "[grid] holds 10,000,000 trials",
        "at most 100,000",
    )
    assert not (tmp_path / "runs").exists()


def test_a_csv_with_100000_columns_is_refused_on_its_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wide = tmp_path / "wide.csv"
    n = 100_000
    header = ",".join(f"c{i}" for i in range(n))
    wide.write_text(header + "\n" + "\n".join(",".join(["1"] * n) for _ in range(20)) + "\n")
    _refused(
        capsys,
        train_argv(f"csv:{wide}", "none", 4, "--target", "c1", "--epochs", "1"),
        f"{wide}: header (line 1) has 100,000",
        "at most 10,000",
    )


def test_mc_dropout_samples_are_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    _refused(
        capsys,
        train_argv("synthetic", "mc_dropout", 8, "--set", "regularizer.samples=100000000"),
        "regularizer.samples=100000000 is invalid; allowed: an integer in [1, 10000]",
    )


@pytest.mark.parametrize("verb", ["stats", "export"])
def test_stats_and_export_refuse_an_http_store_that_does_not_answer(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"http://127.0.0.1:{dead_port()}"
    out = tmp_path / ("rep" if verb == "stats" else "t.csv")
    _refused(
        capsys,
        [verb, "--experiment", "exp", "--tracking-uri", uri, "--out", str(out)],
        f"--tracking-uri {uri}: the server does not answer",
    )
    assert not out.exists()


def test_sweep_address_and_ray_address_where_nothing_listens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, BASE)
    port = dead_port()
    _refused(
        capsys,
        _sweep(tmp_path, cfg, "--address", f"127.0.0.1:{port}"),
        f"--address 127.0.0.1:{port}: no Ray cluster answers there",
    )
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    _refused(capsys, _sweep(tmp_path, cfg), f"RAY_ADDRESS 127.0.0.1:{port}: no Ray cluster")
    _refused(capsys, _sweep(tmp_path, cfg, "--address", "nohost:port"), "is invalid; allowed")
    assert not (tmp_path / "runs").exists()


# -- 14. tracebacks ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        (
            'dataset = ["synthetic"]',
            'dataset = [["synthetic"]]',
            "[grid].dataset=['synthetic'] is invalid; allowed: a name or a list of names",
        ),
        ('regularizer = ["none"]', 'regularizer = [["none"]]', "[grid].regularizer=['none']"),
        ('model = ["lstm"]', 'model = [["lstm"]]', "[grid].model=['lstm']"),
        (
            "hidden_size = 8",
            'hidden_size = 8\n[datasets.synthetic]\ntarget = ["x"]',
            "[datasets.synthetic].target=['x'] is invalid; allowed: a column name",
        ),
    ],
)
def test_a_list_where_a_string_is_expected(
    old: str, new: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(capsys, _sweep(tmp_path, _config(tmp_path, BASE.replace(old, new))), needle)


def test_a_config_file_that_is_not_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\x00\xff\xfe\x00binary")
    _refused(capsys, _sweep(tmp_path, str(path)), f"{path}: not a text file (byte 1 is not UTF-8)")


def test_a_csv_symlink_loop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    _refused(capsys, train_argv(f"csv:{a}", "none", 4, "--target", "x"), f"{a}: cannot be opened")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_in_train_sweep_and_tune(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(
        capsys,
        train_argv("synthetic", "none", 8, "--set", "train.device=cuda"),
        "train.device='cuda' is invalid on this machine: torch sees no CUDA GPU",
    )
    cfg = _config(tmp_path, BASE.replace("epochs = 1", 'epochs = 1\ndevice = "cuda"'))
    for verb in ("sweep", "tune"):
        argv = [verb, *_sweep(tmp_path, cfg)[1:]]
        _refused(capsys, argv, "[train].device='cuda' is invalid on this machine")
    swept = BASE.replace("seed = [0]", 'seed = [0]\ntrain.device = ["cpu", "cuda"]')
    _refused(capsys, _sweep(tmp_path, _config(tmp_path, swept)), "[grid].train.device='cuda'")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("verb", ["stats", "export", "ui"])
def test_database_uri_without_its_driver_names_the_package(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sqlalchemy")
    if __import__("importlib").util.find_spec("psycopg") is not None:
        pytest.skip("psycopg (the default PostgreSQL driver) is installed here")
    uri = "postgresql://user:hunter2@127.0.0.1:1/db"
    argv = store_reader_argv(verb, uri, tmp_path, "exp")
    err = _refused(
        capsys, argv, "postgresql://user:***@127.0.0.1:1/db", "'psycopg'", "psycopg2-binary"
    )
    assert "hunter2" not in err


@pytest.mark.parametrize("verb", ["stats", "export", "ui"])
@pytest.mark.parametrize("damage", ["not-a-database", "corrupted", "no-mlflow-tables"])
def test_sqlite_file_that_is_no_store(
    verb: str, damage: str, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bad.db"
    if damage == "not-a-database":
        db.write_text("these are not the runs you are looking for\n" * 10)
        why = "is not a SQLite database"
    elif damage == "corrupted":  # a real store, its pages after the header overwritten
        data = bytearray(Path(store.removeprefix("sqlite:///")).read_bytes())
        data[100:8192] = b"\xff" * (8192 - 100)
        db.write_bytes(bytes(data))
        why = "is damaged or unreadable"
    else:
        sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
        why = "not an MLflow store"
    uri = f"sqlite:///{db}"
    _refused(capsys, store_reader_argv(verb, uri, tmp_path, "exp"), f"--tracking-uri {uri}: ", why)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.db"]  # nothing created


def test_data_dir_pointing_at_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    monkeypatch.setenv("SYNPRUNE_DATA_DIR", str(f))
    _refused(capsys, train_argv("bitcoin", "none", 8), f"SYNPRUNE_DATA_DIR={f}: {f} is a file")
    _refused(capsys, ["datasets", "fetch", "bitcoin"], "is a file, not a folder")


def test_outputs_that_cannot_be_written(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path under a file stands for a read-only folder (chmod does not stop root)."""
    blocked = tmp_path / "file"
    blocked.write_text("x")
    _refused(
        capsys,
        ["export", "--experiment", "exp", "--tracking-uri", store, "--out", str(blocked / "t.csv")],
        f"--out {blocked}/t.csv: cannot be created",
    )
    _refused(
        capsys,
        ["stats", "--experiment", "exp", "--tracking-uri", store, "--out", str(blocked / "rep")],
        f"--out {blocked}/rep: cannot be created",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes read-only files anyway")
def test_a_read_only_output_folder(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _refused(
            capsys,
            ["export", "--experiment", "exp", "--tracking-uri", store, "--out", str(ro / "t.csv")],
            "is read-only",
        )
    finally:
        ro.chmod(0o755)


# -- 15. silently accepted ---------------------------------------------------------------------
def test_dropout_plus_mc_dropout_is_refused_with_what_it_means(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE.replace('regularizer = ["none"]', 'regularizer = ["none", "dropout+mc_dropout"]')
    _refused(
        capsys,
        _sweep(tmp_path, _config(tmp_path, text)),
        "[grid].regularizer='dropout+mc_dropout' is invalid",
        "would train exactly like mc_dropout alone; use mc_dropout",
    )


@pytest.mark.parametrize("value", ["3", '["a", "b"]', "true"])
def test_a_non_string_description(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE.replace('"bad-inputs"\n', f'"bad-inputs"\ndescription = {value}\n')
    _refused(
        capsys,
        _sweep(tmp_path, _config(tmp_path, text)),
        "description=",
        "is invalid; allowed: a string",
    )


def test_a_datasets_section_off_the_grid_warns(tmp_path: Path) -> None:
    from synprune.config.loader import load_config

    text = BASE + '[datasets."csv:data/x.csv"]\ntarget = "y"\n'
    cfg = load_config(_config(tmp_path, text))
    assert cfg.notes == (
        f'warning: {tmp_path}/c.toml: [datasets."csv:data/x.csv"] is for a dataset not on '
        "[grid].dataset (synthetic); it is not used",
    )
    assert load_config(_config(tmp_path, BASE, "ok.toml")).notes == ()


def test_the_same_set_key_twice(capsys: pytest.CaptureFixture[str]) -> None:
    _refused(
        capsys,
        train_argv(
            "synthetic", "dropout", 8, "--set", "regularizer.p=0.1", "--set", "regularizer.p=0.2"
        ),
        "--set regularizer.p is given twice ('regularizer.p=0.1' and 'regularizer.p=0.2')",
    )


@pytest.mark.parametrize(
    ("column", "bad", "needle"),
    [
        ("seed", "x1", "column 'seed' must be an integer >= 0 at line 3 (found 'x1')"),
        ("seed", "1.5", "column 'seed' must be an integer >= 0 at line 3 (found '1.5')"),
        ("seq_len", "-3", "column 'seq_len' must be an integer >= 1 at line 3 (found '-3')"),
    ],
)
def test_from_csv_rows_with_a_bad_seed_or_seq_len(
    column: str, bad: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["dataset,model,seq_len,regularizer,seed,test_mae"]
    for ds in ("a", "b"):
        for reg in ("none", "dropout"):
            for seed in (0, 1):
                rows.append(f"{ds},lstm,14,{reg},{seed},{0.5 + seed / 10}")
    cells = rows[2].split(",")
    cells[{"seed": 4, "seq_len": 2}[column]] = bad
    rows[2] = ",".join(cells)
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(rows) + "\n")
    _refused(
        capsys,
        ["stats", "--from-csv", str(path), "--out", str(tmp_path / "r")],
        f"{path}: {needle}",
    )
    assert not (tmp_path / "r").exists()


def test_air_quality_codes_used_as_values_warn(shared_data_dir: Path) -> None:
    """The real UCI file read as ``csv:`` without ``--missing-value``: -200 fills 18 % of
    CO(GT) (hand-checked: 1683 of 9357 rows); one warning names the value and the flag. With
    the flag (or the packaged loader's default) there is none."""
    from synprune.datasets import load_dataset

    path = f"csv:{shared_data_dir / 'AirQualityUCI.csv'}"
    notes = [n for n in load_dataset(path, target="CO(GT)").notes if n.startswith("warning")]
    assert len(notes) == 1
    assert notes[0].startswith("warning: the value -200 looks like a missing-value code")
    assert "'CO(GT)' (18.0% of its rows" in notes[0] and "pass --missing-value -200" in notes[0]
    coded = load_dataset(path, target="CO(GT)", missing_value=-200)
    assert not [n for n in coded.notes if n.startswith("warning")]
    for name in ("air_quality", "bitcoin", "etth1", "synthetic"):
        assert not [n for n in load_dataset(name).notes if n.startswith("warning")], name


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes read-only files anyway")
def test_a_read_only_store_is_read_and_export_works(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reading needs no write access: export from a store in a read-only folder works, or
    fails as one line (never a traceback)."""
    folder = Path(store.removeprefix("sqlite:///")).parent
    for p in (*folder.rglob("*"), folder):
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        rc = main(["export", "--experiment", "exp", "--tracking-uri", store,
                   "--out", str(tmp_path / "t.csv")])  # fmt: skip
        err = capsys.readouterr().err
        assert rc in (0, 2) and "Traceback" not in err and len(err.splitlines()) <= 1, err
    finally:
        for p in (folder, *folder.rglob("*")):
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_sweep_on_a_database_server_that_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg2 is installed (constraints.txt) but nothing listens: refused in seconds (MLflow
    would retry for minutes), the password left out, nothing created in the working folder."""
    pytest.importorskip("psycopg2")
    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path, BASE)
    uri = f"postgresql+psycopg2://u:hunter2@127.0.0.1:{dead_port()}/db"
    argv = ["sweep", "--config", cfg, "--tracking-uri", uri]
    shown = "tracking store postgresql+psycopg2://u:***@127.0.0.1:"
    err = _refused(capsys, argv, shown, "the database server does not answer")
    assert "hunter2" not in err and sorted(os.listdir(tmp_path)) == ["c.toml"]
