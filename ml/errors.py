"""One base for every error `ml` raises on purpose, split by what another try can do.

Callers outside `ml` (the web app's job lifecycle, the CLIs) decide by class, not by a hand-kept list:
a `PermanentError` means the input or the model is wrong, so the job fails at once with the message;
a `TransientError` means something outside the input failed (a remote imagery source did not answer),
so the same call may succeed later. Both stay `ValueError`s, as every `ml` error was before.
"""
from __future__ import annotations


class MLError(ValueError):
    """An error `ml` raises on purpose; the message is written for a person to act on."""


class PermanentError(MLError):
    """The input, the data or the model is wrong: another try with the same input cannot help."""


class TransientError(MLError):
    """Something outside the input failed (a remote source, the network): another try may succeed."""


class EngineError(PermanentError):
    """An engine cannot be built or used for a model; the message says why."""
