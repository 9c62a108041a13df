"""infra/local-cluster.sh against real servers on 127.0.0.1 (marked ``cluster``; runs in CI).

One test walks the whole life cycle, because bringing the stack up costs ~30-60 s on 2 cores:
``up`` -> 2 alive Ray nodes, MLflow reachable and backed by PostgreSQL, every listening socket
on loopback -> ``stop-worker`` -> 1 node -> ``start-worker`` -> 2 nodes -> ``restart-mlflow``
keeps the data -> ``down`` -> every recorded process gone, temp data removed.
The script installs PostgreSQL itself (apt-get) on a fresh machine.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "infra" / "local-cluster.sh"

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

# Driver-side check of the Ray cluster, run in a fresh interpreter with the exported variables
# (Ray reads them at import; the test process must not become a Ray driver itself).
_NODES_PROBE = """
import json, ray
ray.init(logging_level="ERROR")
nodes = [n for n in ray.nodes() if n["Alive"]]
print(json.dumps({"alive": len(nodes), "ips": sorted(n["NodeManagerAddress"] for n in nodes),
                  "cpus": ray.cluster_resources().get("CPU", 0)}))
ray.shutdown()
"""


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run the script; stdout back, stderr shown on failure."""
    proc = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"local-cluster.sh {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


def _exports(stdout: str) -> dict[str, str]:
    """`export NAME=VALUE` lines of `up`, as a dict (values shell-unquoted)."""
    out = {}
    for line in stdout.splitlines():
        assert line.startswith("export "), f"unexpected stdout line from up: {line!r}"
        name, _, value = line.removeprefix("export ").partition("=")
        out[name] = shlex.split(value)[0]
    return out


def _state(cluster_dir: Path) -> dict[str, str]:
    """state.env as a dict (values shell-unquoted)."""
    state = {}
    for line in (cluster_dir / "state.env").read_text().splitlines():
        key, _, value = line.partition("=")
        words = shlex.split(value)
        state[key] = " ".join(words)
    return state


def _pid_running(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _session_pids(sid: int) -> list[int]:
    """Live members of process session ``sid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session ...
            pids.append(int(entry.name))
    return pids


def _listening_addresses(pids: list[int]) -> set[str]:
    """Local addresses of the TCP sockets in LISTEN state that ``pids`` hold."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table in ["/proc/net/tcp", "/proc/net/tcp6"]:
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                found.add(_decode_address(local))
    return found


def _decode_address(hex_addr: str) -> str:
    """'0100007F:1F90' -> '127.0.0.1:8080' (IPv4, and IPv4-mapped / plain IPv6)."""
    ip_hex, port_hex = hex_addr.split(":")
    port = int(port_hex, 16)
    raw = bytes.fromhex(ip_hex)
    # /proc stores each 32-bit word in host (little-endian) order.
    words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
    addr = b"".join(words)
    if len(addr) == 16 and addr[:12] == b"\0" * 10 + b"\xff\xff":
        addr = addr[12:]
    if len(addr) == 4:
        return f"{'.'.join(str(b) for b in addr)}:{port}"
    return f"[{addr.hex()}]:{port}"


def _assert_ports_distinct(state: dict[str, str]) -> None:
    """Every port the script handed out is distinct (a CI run once saw Ray's GCS port handed
    out again to the same node's dashboard agent), names the servers' ports, and lies below the
    kernel's ephemeral range, where no outgoing connection can take it before its server binds.
    """
    taken = [int(p) for p in state["TAKEN_PORTS"].split()]
    assert len(taken) == len(set(taken)), f"a port was handed out twice: {sorted(taken)}"
    for key in ["PG_PORT", "MLFLOW_PORT", "RAY_PORT"]:
        assert int(state[key]) in taken, key
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if ephemeral_low > 21000:
        assert all(20000 <= p < ephemeral_low for p in taken), sorted(taken)


def _ray_nodes(env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _NODES_PROBE], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture()
def cluster_env() -> Iterator[tuple[dict[str, str], Path]]:
    """Environment for the script with a private cluster dir; always brought down at the end."""
    cluster_dir = Path(f"/tmp/synprune-cluster-test-{uuid.uuid4().hex[:8]}")
    env = dict(os.environ)
    env["SYNPRUNE_CLUSTER_DIR"] = str(cluster_dir)
    env["SYNPRUNE_PYTHON"] = sys.executable
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        yield env, cluster_dir
    finally:
        subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, timeout=300)


def test_local_cluster_life_cycle(cluster_env: tuple[dict[str, str], Path]) -> None:
    env, cluster_dir = cluster_env
    import mlflow
    import psycopg2
    from mlflow.tracking import MlflowClient

    # ---- up: exports on stdout, nothing else
    t0 = time.monotonic()
    exports = _exports(_run(["up"], env))
    print(f"up took {time.monotonic() - t0:.1f} s")
    assert exports["RAY_ADDRESS"].startswith("127.0.0.1:")
    assert exports["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    state = _state(cluster_dir)
    driver_env = {**env, **exports}
    _assert_ports_distinct(state)

    # ---- a second `up` notices and prints the same exports
    assert _exports(_run(["up"], env)) == exports

    # ---- Ray: two alive nodes, both on loopback
    nodes = _ray_nodes(driver_env)
    assert nodes["alive"] == 2, nodes
    assert nodes["ips"] == ["127.0.0.1", "127.0.0.1"]
    assert nodes["cpus"] == 2

    # ---- every socket our processes listen on is bound to loopback
    ours = [int(state["PG_PID"])]
    for key in ["MLFLOW_SID", "RAY_HEAD_SID", "RAY_WORKER_SID"]:
        ours += _session_pids(int(state[key]))
    addresses = _listening_addresses(ours)
    assert addresses, "found no listening sockets of the cluster's processes"
    assert all(a.startswith("127.0.0.1:") for a in addresses), sorted(addresses)

    # ---- MLflow: write through the server, read back, and find it in PostgreSQL
    uri = exports["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(f"cluster-test-{uuid.uuid4().hex[:6]}")
    run = client.create_run(experiment_id, tags={"spec_id": "abc123"})
    client.log_param(run.info.run_id, "model", "lstm")
    client.log_metric(run.info.run_id, "test_mae", 0.25)
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)  # mlflow-artifacts:/ URIs resolve against the global URI
    try:
        client.log_text(run.info.run_id, "hello", "note.txt")  # proxied artifact upload
    finally:
        mlflow.set_tracking_uri(previous_uri)
    client.set_terminated(run.info.run_id)
    got = client.get_run(run.info.run_id)
    assert got.data.params["model"] == "lstm" and got.data.metrics["test_mae"] == 0.25
    artifacts = list(Path(state["MLFLOW_ARTIFACTS"]).rglob("note.txt"))
    assert len(artifacts) == 1 and artifacts[0].read_text() == "hello"

    with psycopg2.connect(state["PG_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (run.info.run_id,))
        assert cur.fetchone() == ("FINISHED",)
        cur.execute(
            "SELECT value FROM latest_metrics WHERE run_uuid = %s AND key = 'test_mae'",
            (run.info.run_id,),
        )
        assert cur.fetchone() == (0.25,)
    conn.close()

    # ---- stop-worker: one node left; start-worker: two again
    worker_pids = [int(p) for p in state["RAY_WORKER_PIDS"].split()]
    _run(["stop-worker"], env)
    assert not any(_pid_running(p) for p in worker_pids)
    assert _ray_nodes(driver_env)["alive"] == 1
    _run(["start-worker"], env)
    assert _ray_nodes(driver_env)["alive"] == 2
    _assert_ports_distinct(_state(cluster_dir))  # the new node got ports nobody was given

    # ---- restart-mlflow: a new server process, same data
    old_mlflow = int(_state(cluster_dir)["MLFLOW_SID"])
    _run(["restart-mlflow"], env)
    assert not _session_pids(old_mlflow)
    assert int(_state(cluster_dir)["MLFLOW_SID"]) != old_mlflow
    again = MlflowClient(tracking_uri=uri).get_run(run.info.run_id)
    assert again.data.metrics["test_mae"] == 0.25 and again.info.status == "FINISHED"

    status = subprocess.run([str(SCRIPT), "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "ray-nodes 2 alive" in status.stdout

    # ---- down: every process it recorded is gone, and its data with them
    state = _state(cluster_dir)
    recorded = [int(state["PG_PID"])]
    for key in ["MLFLOW_PIDS", "RAY_HEAD_PIDS", "RAY_WORKER_PIDS"]:
        recorded += [int(p) for p in state[key].split()]
    sessions = [int(state[k]) for k in ["MLFLOW_SID", "RAY_HEAD_SID", "RAY_WORKER_SID"]]
    t0 = time.monotonic()
    _run(["down"], env)
    print(f"down took {time.monotonic() - t0:.1f} s")
    assert not [p for p in recorded if _pid_running(p)]
    assert not [s for s in sessions if _session_pids(s)]
    assert not cluster_dir.exists()
    assert not Path(state["RAY_TMP"]).exists()
    status = subprocess.run([str(SCRIPT), "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 3
