"""Errors that end a command. Per-file problems are records, never these."""


class FatalError(Exception):
    """A problem that stops the whole command; the message names the problem and the fix."""


class ConfigError(FatalError):
    """The configuration file or an override is invalid."""


class CatalogError(FatalError):
    """The catalog cannot be opened, created or written."""


class UsageError(FatalError):
    """The command line asks for something that does not exist (an unknown phase, say)."""


class CatalogLocked(FatalError):
    """Another run holds the catalog's lock."""


class Interrupted(FatalError):
    """Ctrl-C or SIGTERM stopped a run; what was finished is kept."""


class ModelUnavailable(FatalError):
    """A command needs a model whose weights (or libraries) are not here (exit 4, as a phase
    that cannot run); the message says how to provide them."""


class DecoderMissing(RuntimeError):
    """Not a command's end but a file's: an optional decoder (rawpy for camera RAW files) is
    not installed. The file stays pending (phases/base.py), so that installing the decoder
    and running again analyzes it; the message says what to install."""


def short_reason(exc: BaseException) -> str:
    """An exception as one line for a record: CUDA errors run to a dozen lines of advice."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0] if text else ''}".strip()
    return line if len(line) <= 200 else line[:197] + "..."
