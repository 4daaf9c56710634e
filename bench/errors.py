"""Errors that mean "the input is wrong": the CLI prints them as one line and exits with status 2."""


class UsageError(ValueError):
    """Bad input from the person running rnnbench (a flag, a file, a config value)."""
