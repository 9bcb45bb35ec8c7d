"""The one exception type for user mistakes: the CLI prints its message instead of a traceback."""


class XraySSLError(Exception):
    """A problem the user can fix (bad path, bad option, unreadable dataset); the message says what."""
