"""Errors the CLI turns into a clear message and an exit code instead of a traceback."""


class PipelineError(Exception):
    """Bad input or configuration: the message names what is wrong and where."""

    exit_code = 2


class CheckFailed(PipelineError):
    """A data check or the evaluation gate said no: an expected outcome, not a crash."""

    exit_code = 1
