"""Errors services raise to interfaces. Each maps to one HTTP status in the API."""


class ServiceError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, field_errors: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field_errors = field_errors or {}


class InvalidRequest(ServiceError):
    """Bad input (400)."""

    code = "invalid"


class Conflict(ServiceError):
    """The state of the account, connection or provider does not allow this now (409)."""

    code = "conflict"
