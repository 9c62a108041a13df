"""Rehearsal of a cluster sweep under faults (issue 7), against real servers on 127.0.0.1.

``infra/local-cluster.sh up`` starts PostgreSQL, an MLflow server backed by it and a 2-node Ray
cluster (head + worker, 1 CPU each); ``synprune sweep`` runs ``tests/infra/rehearsal.toml``
(8 trials of ~5-15 s, 1 CPU each, so one trial runs on each node) as a subprocess with the
exported environment, exactly as a user would.

Phase 1, node loss: once a trial is training on the worker node (its Tune actor is a process of
the worker's session and burns CPU inside ``train``), the worker is SIGKILLed. Every trial must
still finish (the lost one is retried on the head), the server must hold exactly one finished
run per trial, a run must show more than one attempt, and ``synprune stats --experiment``
against the server must write its report and log its ``stats`` run.

Phase 2, tracking-server restart: the worker rejoins, a second sweep (another experiment, Ray
storage moved with ``SYNPRUNE_RAY_STORAGE``) starts, the MLflow server is stopped once the
first trial was written and kept down until a finished trial had to be spooled, then started
again. No run may be lost: the spool empties, every trial has exactly one finished run, no run
is left half-written, and the sweep exits 0.

A second test (marked ``ray``, local Ray + SQLite, no cluster) pins down the sweep's answer to a
Ray Tune behaviour the rehearsal ran into: when a node dies, Tune may count the loss twice and
error the trial whatever ``max_failures`` says; such a trial is run again in a fresh pass.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "infra" / "local-cluster.sh"
CONFIG = Path(__file__).with_name("rehearsal.toml")
CLK_TCK = os.sysconf("SC_CLK_TCK")

pytestmark = pytest.mark.timeout(900)


# -- the cluster -----------------------------------------------------------------------------
def _script(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"local-cluster.sh {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


def _exports(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        out[name] = shlex.split(value)[0]
    return out


def _state(cluster_dir: Path) -> dict[str, str]:
    state = {}
    for line in (cluster_dir / "state.env").read_text().splitlines():
        key, _, value = line.partition("=")
        state[key] = " ".join(shlex.split(value))
    return state


@pytest.fixture()
def cluster() -> Iterator[tuple[dict[str, str], dict[str, str], Path]]:
    """(script env, driver env, cluster dir) of a private local cluster; always brought down."""
    cluster_dir = Path(f"/tmp/synprune-rehearsal-{uuid.uuid4().hex[:8]}")
    env = dict(os.environ)
    env["SYNPRUNE_CLUSTER_DIR"] = str(cluster_dir)
    env["SYNPRUNE_PYTHON"] = sys.executable
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        t0 = time.monotonic()
        exports = _exports(_script(["up"], env))
        print(f"up: {time.monotonic() - t0:.0f} s")
        yield env, {**env, **exports}, cluster_dir
    finally:
        t0 = time.monotonic()
        subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, timeout=300)
        print(f"down: {time.monotonic() - t0:.0f} s")


# -- processes -------------------------------------------------------------------------------
def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state ppid pgrp session ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _trial_processes(sid: int) -> dict[int, float]:
    """Tune trial actors running ``train`` in session ``sid``: pid -> CPU seconds used."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is None or fields[0] == "Z" or int(fields[3]) != sid:
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::ImplicitFunc.train"):
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


def _poll(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Sweep:
    """``synprune sweep`` as a subprocess with the cluster's environment, output to a file."""

    def __init__(self, workdir: Path, experiment: str, env: dict[str, str]) -> None:
        workdir.mkdir(parents=True)
        self.workdir, self.experiment = workdir, experiment
        self.config = workdir / "rehearsal.toml"
        text = CONFIG.read_text().replace(
            'experiment = "rehearsal"', f'experiment = "{experiment}"'
        )
        assert f'experiment = "{experiment}"' in text
        self.config.write_text(text)
        self.log = workdir / "sweep.log"
        self._fh = open(self.log, "w")  # noqa: SIM115 - closed in wait()/stop()
        cmd = [sys.executable, "-m", "synprune", "sweep", "--config", str(self.config)]
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=self._fh, stderr=subprocess.STDOUT
        )
        self.t0 = time.monotonic()

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def spool_dir(self) -> Path:
        return self.workdir / "synprune-runs" / "spool" / self.experiment

    def running(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"the sweep ended early (rc {self.proc.returncode}):\n{self.output}")
        return True

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the sweep did not end within {timeout:.0f} s:\n{self.output}")
        self._fh.close()
        print(f"sweep {self.experiment}: {time.monotonic() - self.t0:.0f} s, rc {rc}")
        return rc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        self._fh.close()


def _finished_lines(out: str) -> int:
    return sum(1 for line in out.splitlines() if line.startswith("[") and " finished " in line)


# -- MLflow ----------------------------------------------------------------------------------
def _runs(uri: str, experiment: str, filter_string: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} on {uri}"
    return list(client.search_runs([exp.experiment_id], filter_string, max_results=1000))


def _expected_spec_ids(config: Path) -> set[str]:
    from synprune.config.loader import load_config

    return {s.spec_id for s in load_config(config).specs()}


def _assert_one_finished_run_per_trial(uri: str, sweep: Sweep) -> list[Any]:
    """Exactly one finished run per spec_id of the grid, none left half-written."""
    expected = _expected_spec_ids(sweep.config)
    trial_runs = _runs(uri, sweep.experiment, "tags.run_kind = 'trial'")
    finished = [r for r in trial_runs if r.data.tags.get("status") == "finished"]
    per_spec = Counter(r.data.tags["spec_id"] for r in finished)
    assert set(per_spec) == expected, (set(per_spec) ^ expected, sweep.output)
    assert all(n == 1 for n in per_spec.values()), per_spec
    assert len(finished) == len(expected) == 8
    assert all(r.info.status == "FINISHED" for r in finished)
    assert all("test_mae" in r.data.metrics for r in finished)
    running = [r.info.run_id for r in trial_runs if r.data.tags.get("status") == "running"]
    assert not running, f"runs left half-written: {running}"
    return finished


# -- the rehearsal ---------------------------------------------------------------------------
@pytest.mark.cluster
def test_sweep_survives_node_loss_and_tracking_restart(
    cluster: tuple[dict[str, str], dict[str, str], Path], tmp_path: Path
) -> None:
    env, driver_env, cluster_dir = cluster
    uri = driver_env["MLFLOW_TRACKING_URI"]
    assert uri.startswith("http://127.0.0.1:") and driver_env["RAY_ADDRESS"].startswith("127.")
    tag = uuid.uuid4().hex[:6]

    # ---------------- phase 1: lose the worker node mid-trial
    worker_sid = int(_state(cluster_dir)["RAY_WORKER_SID"])
    sweep = Sweep(tmp_path / "node-loss", f"rehearsal-node-loss-{tag}", driver_env)
    try:
        # a trial training on the worker node: its actor runs `train` in the worker's session
        # and has used >= 1.5 s of CPU since we first saw it (so it is mid-training, not starting)
        first_seen: dict[int, float] = {}

        def training_on_worker() -> int | None:
            sweep.running()
            for pid, cpu in _trial_processes(worker_sid).items():
                first_seen.setdefault(pid, cpu)
                if cpu - first_seen[pid] >= 1.5:
                    return pid
            return None

        victim = _poll("a trial training on the worker node", training_on_worker, 240)
        finished_before = _finished_lines(sweep.output)
        t0 = time.monotonic()
        _script(["stop-worker", "--kill"], env)
        print(
            f"worker killed (trial pid {victim}); 1 node left after {time.monotonic() - t0:.0f} s"
        )
        assert _proc_stat(victim) is None or _proc_stat(victim)[0] == "Z"
        assert finished_before < 8
        rc = sweep.wait(timeout=480)
    finally:
        sweep.stop()
    out = sweep.output
    assert rc == 0, out
    assert "8 finished, 0 failed" in out, out
    # the trial on the lost node was retried (by Tune, or in a fresh pass for lost trials)
    assert "retrying" in out or "lost with its Ray actor/node" in out, out
    finished = _assert_one_finished_run_per_trial(uri, sweep)
    attempts = sorted(int(r.data.tags.get("attempts", "1")) for r in finished)
    assert attempts[-1] >= 2, f"no finished run took a second attempt: {attempts}"
    print(f"phase 1: attempts per finished run {attempts}")

    # stats against the server: report files + a logged `stats` run
    report = tmp_path / "report"
    stats = subprocess.run(
        [sys.executable, "-m", "synprune", "stats", "--experiment", sweep.experiment,
         "--tracking-uri", uri, "--out", str(report)],
        env=driver_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert stats.returncode == 0, stats.stdout + stats.stderr
    for name in ("report.md", "ranking.csv", "cd_diagram.png"):
        assert (report / name).stat().st_size > 0, name
    assert "2 blocks x 4 arms" in stats.stdout, stats.stdout
    ranking = (report / "ranking.csv").read_text()
    assert all(reg in ranking for reg in ("none", "dropout", "mc_dropout", "synaptic"))
    assert len(_runs(uri, sweep.experiment, "tags.`synprune.kind` = 'stats'")) == 1

    # ---------------- phase 2: restart the tracking server mid-sweep
    _script(["start-worker"], env)
    ray_storage = tmp_path / "ray-storage"
    sweep = Sweep(
        tmp_path / "mlflow-restart",
        f"rehearsal-mlflow-restart-{tag}",
        {**driver_env, "SYNPRUNE_RAY_STORAGE": str(ray_storage)},
    )
    spooled_seen: list[str] = []
    try:
        # first trial written through the server, then take the server away ...
        _poll(
            "the first trial written",
            lambda: sweep.running() and _finished_lines(sweep.output),
            240,
        )
        _script(["stop-mlflow"], env)
        outage = time.monotonic()

        # ... until a finished trial could not be written and waits in the spool
        def spooled() -> list[str]:
            sweep.running()
            return sorted(p.name for p in sweep.spool_dir.glob("*.json"))

        spooled_seen = _poll("a trial record in the spool", spooled, 240)
        _script(["start-mlflow"], env)
        print(f"MLflow down {time.monotonic() - outage:.0f} s; spooled meanwhile: {spooled_seen}")
        rc = sweep.wait(timeout=480)
    finally:
        sweep.stop()
    out = sweep.output
    assert spooled_seen
    assert "tracking store unreachable: spooled" in out, out
    assert "View run" not in out, out  # MLflow's per-run URL lines stay off the console
    assert rc == 0, out  # non-zero if a record were still spooled at the end
    assert "8 finished, 0 failed" in out, out
    assert not list(sweep.spool_dir.glob("*.json")), "records left in the spool"
    _assert_one_finished_run_per_trial(uri, sweep)
    # Ray Tune kept its experiment where SYNPRUNE_RAY_STORAGE said
    assert list((ray_storage / sweep.experiment).glob("experiment_state-*.json"))
    assert not (sweep.workdir / "synprune-runs" / "ray").exists()


# -- a trial lost with its worker runs again in a fresh pass (local Ray, no cluster) ----------
DIE_PLUGIN = textwrap.dedent('''
    """Test-only regularizer: its worker process dies (a lost node) on the first 2 attempts."""
    import os

    from synprune.regularizers import Regularizer, register_regularizer


    class DieTwice(Regularizer):
        name = "die_twice"

        def attach(self, model, total_steps, optimizer=None):
            with open(os.environ["DIE_COUNTER"], "a") as fh:
                fh.write("attempt\\n")
            with open(os.environ["DIE_COUNTER"]) as fh:
                if fh.read().count("attempt") <= 2:
                    os._exit(1)  # the actor's process vanishes: RayActorError, not a task error


    register_regularizer("die_twice")(DieTwice)
''')

DIE_CONFIG = """
experiment = "lost"
plugins = ["synprune_test_die_twice"]
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "die_twice"]
seq_len = [8]
seed = [0]
[train]
epochs = 2
batch_size = 64
[models.lstm]
hidden_size = 4
[sweep]
max_failures = 1
"""


@pytest.mark.ray
def test_trial_lost_with_its_worker_runs_again_in_a_fresh_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray

    from synprune.config.loader import load_config
    from synprune.regularizers import _REGISTRY
    from synprune.runtime.sweep import run_sweep
    from synprune.tracking.reader import trial_rows

    plugdir = tmp_path / "plug"
    plugdir.mkdir()
    (plugdir / "synprune_test_die_twice.py").write_text(DIE_PLUGIN)
    counter = tmp_path / "attempts.txt"
    monkeypatch.syspath_prepend(str(plugdir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugdir), *sys.path]))
    monkeypatch.setenv("DIE_COUNTER", str(counter))
    path = tmp_path / "lost.toml"
    path.write_text(DIE_CONFIG)
    cfg = load_config(path)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # workers inherit env
    try:
        s = run_sweep(cfg, uri)
    finally:
        ray.shutdown()
        _REGISTRY.unregister("die_twice")
        sys.modules.pop("synprune_test_die_twice", None)
    out = capsys.readouterr().out
    rows = trial_rows(uri, "lost", status=None)
    info = [(r["regularizer"], r["status"], (r["error"] or "")[:200]) for r in rows]
    # Tune's 2 attempts (max_failures=1) died with their worker; a fresh pass ran the third
    assert (s.finished, s.failed) == (2, 0), (info, out)
    assert counter.read_text().count("attempt") == 3, out
    assert "lost with its Ray actor/node" in out and "again" in out, out
    assert "no error text" not in out, out  # the actor error's text is read where Tune wrote it
    assert sorted(r["regularizer"] for r in rows) == ["die_twice", "none"], info  # none failed
    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=uri).get_run(
        next(r["run_id"] for r in rows if r["regularizer"] == "die_twice")
    )
    assert run.data.tags["attempts"] == "3"
