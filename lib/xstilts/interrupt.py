"""Stopping work on purpose: a training run saved a resumable checkpoint on a signal (SIGTERM, or SIGUSR1,
Slurm's warning before a time limit) and stopped. A BaseException, so the code that records failures
(`except Exception`) lets it through: an interrupted run is incomplete and resumes, it has not failed."""


class Interrupted(BaseException):
    """Raised after a resumable checkpoint was saved on a signal."""
