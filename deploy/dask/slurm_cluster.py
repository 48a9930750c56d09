"""A Dask cluster of SLURM jobs for grading (dask-jobqueue; configuration:
deploy/dask/jobqueue.yaml in ~/.config/dask/). Run on the login node, in tmux or screen:

    python deploy/dask/slurm_cluster.py --jobs 50

It prints the scheduler's address and dashboard, keeps the cluster up (SLURM jobs end at their
walltime; it submits new ones to keep --jobs workers) until Ctrl-C, then cancels the jobs. Grade
from another terminal:

    python -m autograder grade day4 --scheduler tcp://LOGIN-NODE:8786
"""

from __future__ import annotations

import argparse
import time

from dask_jobqueue import SLURMCluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10, help="worker jobs to keep (default 10)")
    args = parser.parse_args()
    with SLURMCluster() as cluster:  # everything from jobqueue.yaml
        cluster.adapt(minimum_jobs=args.jobs, maximum_jobs=args.jobs)
        print(f"scheduler {cluster.scheduler_address}  dashboard {cluster.dashboard_link}",
              flush=True)
        print(cluster.job_script(), flush=True)
        try:
            while True:
                time.sleep(60)
        except KeyboardInterrupt:
            print("stopping: the worker jobs are cancelled", flush=True)


if __name__ == "__main__":
    main()
