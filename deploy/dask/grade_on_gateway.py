"""Grade a day on a Dask cluster from the dask-gateway of the course's JupyterHub (daskhub):
run it in a terminal of an instructor's server.

    python deploy/dask/grade_on_gateway.py day4 --cluster-workers 50 [grade options]

It asks the gateway for a cluster (worker image and settings: deploy/dask/daskhub-values.yaml),
scales it, and runs ``python -m autograder grade DAY --scheduler ...`` through the gateway's
connection (TLS credentials of the gateway; ``autograder.distributed.use_client``); the results
are recorded by this process into the course gradebook (``DLCOURSE_DB_URL``: PostgreSQL). The
cluster is shut down at the end; run the same command again to resume a batch.
"""

from __future__ import annotations

import argparse
import sys

from dask_gateway import Gateway

from autograder.cli import main as autograder
from autograder.distributed import use_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("day")
    parser.add_argument("--cluster-workers", type=int, default=10,
                        help="Dask workers to ask the gateway for (default 10)")
    args, grade_options = parser.parse_known_args(argv)
    gateway = Gateway()  # the hub's gateway: daskhub sets its address and JupyterHub auth
    with gateway.new_cluster() as cluster:
        cluster.scale(args.cluster_workers)
        print(f"dask-gateway cluster {cluster.name}: dashboard {cluster.dashboard_link}",
              flush=True)
        with cluster.get_client() as client, use_client(client) as address:
            client.wait_for_workers(1, timeout=900)
            return autograder(["grade", args.day, "--scheduler", address, *grade_options])


if __name__ == "__main__":
    sys.exit(main())
