"""The error taxonomy every provider maps its answers onto.

Each error has a stable ``code``, a message a person can act on, and says whether another
attempt could succeed. Services decide what to do from the type alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Outcome


class ProviderError(Exception):
    code = "provider_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field_errors: dict[str, list[str]] | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
        outcome: Outcome | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field_errors = field_errors or {}
        self.retry_after = retry_after
        self.status_code = status_code
        # changes to apply to the account even though the operation failed
        # (e.g. a wrong captcha answer comes with a fresh captcha)
        self.outcome = outcome

    def __str__(self):
        return self.message


class TransientError(ProviderError):
    """Network trouble, a timeout before sending, a 5xx: another attempt may succeed."""

    code = "transient"
    retryable = True


class UnknownOutcome(TransientError):
    """The request was sent but no answer came: the provider may or may not have acted."""

    code = "unknown_outcome"


class RateLimited(TransientError):
    """429 or the portal's own per-connection limit; ``retry_after`` says when to come back."""

    code = "rate_limited"


class Deferred(RateLimited):
    """The portal itself must wait (a budget of its own is spent): come back after ``retry_after``.

    Unlike other transient errors it does not use up an attempt, since nothing was tried.
    """

    code = "deferred"


class ConfigurationError(ProviderError):
    """Credentials rejected, signature refused, missing rights: the connection needs a person."""

    code = "configuration"


class MemberIncomplete(ProviderError):
    """The member lacks what the provider needs (``Provider.member_missing``): nothing was sent;
    complete the member, then retry."""

    code = "member_incomplete"


class InvalidInput(ProviderError):
    """The provider rejected what we sent (field errors); sending it again will not help."""

    code = "invalid_input"


class AlreadyExists(ProviderError):
    code = "already_exists"


class NotFound(ProviderError):
    code = "not_found"


class QuotaExceeded(ProviderError):
    code = "quota_exceeded"


class Rejected(ProviderError):
    """Any other 4xx: permanent, never retried."""

    code = "rejected"


class NeedsAttention(ProviderError):
    """A state the portal cannot resolve alone (e.g. a remote account whose secret was lost)."""

    code = "needs_attention"
