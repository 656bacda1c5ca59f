"""`python -m worker.run_one JOB_ID --attempt N`: run one job in a fresh process for the local runner."""

import argparse

from secateur.kernel.logs import configure_logging


def main(argv: list[str] | None = None) -> None:
    """Parse the job id and the attempt the runner claimed, then run the job."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("job_id")
    parser.add_argument("--attempt", type=int, default=None, help="the attempt the runner already claimed")
    args = parser.parse_args(argv)
    configure_logging()
    from worker.job_runner import run_job

    run_job(args.job_id, attempt=args.attempt)


if __name__ == "__main__":
    main()
