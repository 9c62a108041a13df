"""Ray helpers for a cluster that lives on 127.0.0.1 only (used by ``infra/local-cluster.sh``).

Usage::

    export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
    python infra/ray_loopback.py start --head ...
    python infra/ray_loopback.py start --address 127.0.0.1:PORT ...
    python infra/ray_loopback.py alive-nodes 127.0.0.1:PORT    # prints the number of alive nodes

``start`` takes exactly the arguments of ``ray start``. Why a wrapper: the ``ray start`` CLI
rewrites ``127.0.0.1`` (in ``--node-ip-address`` and ``--address``) to the machine's
outward-facing IP, and then its servers listen on every interface. With
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` in the environment Ray keeps loopback addresses as they
are and binds GCS, raylets and agents to 127.0.0.1 only; but the same switch also makes the CLI
refuse to start a second (non-head) node. This wrapper keeps the loopback resolution, lifts only
that refusal, and then runs the unmodified ``ray start`` command.

Drivers that connect to such a cluster need ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` too, or
``ray.init`` rewrites ``RAY_ADDRESS=127.0.0.1:PORT`` to the outward IP where nothing listens;
``local-cluster.sh up`` prints it with the other exports.

``alive-nodes`` asks the GCS directly (no driver is started, so it is cheap and has no side
effects); it honours ``RAY_AUTH_MODE`` / ``RAY_AUTH_TOKEN_PATH`` like any Ray client.
"""

from __future__ import annotations

import sys


def _start(argv: list[str]) -> int:
    """Run ``ray start <argv>`` with loopback address resolution and multi-node joining allowed."""
    import ray._private.ray_constants as ray_constants
    from ray._private import services
    from ray.scripts.scripts import main

    def loopback_ip(address: str | None = None) -> str:
        """This node's IP is the loopback address, whatever route the machine has."""
        return services.get_localhost_ip()

    services.get_node_ip_address = loopback_ip
    ray_constants.ENABLE_RAY_CLUSTER = True  # the CLI's only other use: refusing non-head nodes
    sys.argv = ["ray", "start", *argv]
    return int(main() or 0)


def _alive_nodes(address: str, timeout_s: float = 5.0) -> int:
    """Number of nodes the GCS at ``address`` reports alive."""
    from ray._raylet import GcsClient
    from ray.core.generated.gcs_pb2 import GcsNodeInfo

    client = GcsClient(address=address)
    alive = client.get_all_node_info(timeout=timeout_s, state_filter=GcsNodeInfo.GcsNodeState.ALIVE)
    return len(alive)


def main(argv: list[str]) -> int:
    """Dispatch ``start ...`` or ``alive-nodes ADDRESS``."""
    if argv[:1] == ["start"]:
        return _start(argv[1:])
    if argv[:1] == ["alive-nodes"] and len(argv) == 2:
        try:
            print(_alive_nodes(argv[1]))
        except Exception as exc:  # GCS down or unreachable: report, let the caller decide
            print(f"ray_loopback: GCS at {argv[1]} did not answer: {exc}", file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
