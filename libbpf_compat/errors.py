"""The one exception type of the library, mirroring libbpf's negative-errno returns."""

from __future__ import annotations

import errno as _errno


class LibbpfError(OSError):
    """An error a libbpf call would report as a negative errno.

    ``errno`` holds the positive errno value; ``log`` carries a verifier or
    loader log where there is one.
    """

    def __init__(self, err: int, message: str, log: str = "") -> None:
        super().__init__(err, message)
        self.log = log

    def __str__(self) -> str:
        name = _errno.errorcode.get(self.errno or 0, str(self.errno))
        return f"[{name}] {self.strerror}"


def einval(message: str) -> LibbpfError:
    """Shorthand for the most common error: invalid argument."""
    return LibbpfError(_errno.EINVAL, message)


__all__ = ["LibbpfError", "einval"]
