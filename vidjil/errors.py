"""Errors reported to the user as one line, with exit status 2."""


class UserError(Exception):
    """Bad input or usage: the message names the file or option and the problem."""
