"""Run a function on every rank of a real gloo process group (spawned processes) and collect
what each rank returned. Shared by the DDP, FSDP2 and k-th tests.

A rank that finished its work leaves with ``os._exit(0)``: skipping the interpreter's teardown
is deliberate. Under load (2 busy cores) a spawned rank sometimes died *after* its function had
returned and the group was destroyed, in C++ static teardown ("terminate called without an
active exception", SIGABRT, no Python frame on any thread: seen in CI and in about 1 run in 10
with a busy-looping neighbour). That crash is torch's exit path, not the code under test, and
it failed whole modules. A rank whose function raises still exits through torch's own wrapper,
so its traceback reaches the pytest process as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _rank_main(
    rank: int, fn: Callable[[int, int], Any], world: int, tmp: str, timeout_s: float
) -> None:
    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo",
        init_method=f"file://{tmp}/store",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=timeout_s),
    )
    try:
        torch.save(fn(rank, world), f"{tmp}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_ranks(
    fn: Callable[[int, int], Any], world: int, tmp: Path, timeout_s: float = 90
) -> list[Any]:
    """``[fn(0, world), ..., fn(world - 1, world)]``, each computed in its own process inside
    one gloo group on loopback (file:// rendezvous in ``tmp``). ``fn`` must be importable
    (a module-level function) and return something ``torch.save`` can write."""
    mp.spawn(_rank_main, args=(fn, world, str(tmp), timeout_s), nprocs=world, join=True)
    return [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=False) for r in range(world)]
