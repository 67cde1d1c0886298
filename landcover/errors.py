"""What can go wrong for a caller of the catalogue and the jobs, said without HTTP.

The layers below the API raise these; `landcover.api.errors` is the one table that turns
each into a status code and a body, so no view translates exceptions by hand and the
same failure always answers the same way. Each message is written for a person to act on.
"""
from __future__ import annotations


class LandcoverError(Exception):
    """Base of the errors a request can cause; the message says what to do."""


class InvalidInput(LandcoverError):
    """A parameter or a file is wrong (400); `field` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def body(self) -> dict:
        """The answer's body: the parameter and the list of what is wrong with it (DRF's shape, the one every
        400 of the API has)."""
        return {self.field: [self.message]}


class NotFound(LandcoverError):
    """What was asked for does not exist, or cannot (404)."""


class NotSignedIn(LandcoverError):
    """A signed-in user is needed (401): what this acts on belongs to whoever asked for it."""


class Forbidden(LandcoverError):
    """The requester may see this but not change it (403): it is not theirs."""


class NotReady(LandcoverError):
    """The job is not in a state that allows this (409): not done yet, not failed, already over."""


class Damaged(LandcoverError):
    """A stored file cannot be read (500, saying so): the server's fault, not the request's."""


class LimitReached(LandcoverError):
    """A per-user or per-client limit (429)."""


class Unavailable(LandcoverError):
    """The site cannot answer this yet (503), e.g. no model is registered."""
