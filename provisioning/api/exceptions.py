"""One shape for every API error.

- Bad input: 400 with DRF's field errors (``{"field": ["message"]}``), or
  ``{"detail": ..., "code": ...}`` when the problem is not one field's (DRF's ``non_field_errors``
  alone included).
- Everything else (401, 403, 404, 405, 409, 415, 422, 429...): ``{"detail": ..., "code": ...}``.

``services.InvalidRequest`` becomes a 400 and ``services.Conflict`` a 409; a database
``IntegrityError`` or ``ProtectedError`` (a race the validation could not see) is a 409 too,
never a 500.
"""

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .. import services


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class BadRequest(exceptions.APIException):
    """A 400 that is not about one field: ``{"detail", "code"}``."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request is not valid."
    default_code = "invalid"


class UnprocessableError(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


def _translate(exc):
    if isinstance(exc, services.InvalidRequest):
        if exc.field_errors:
            return exceptions.ValidationError(exc.field_errors)
        return BadRequest(exc.message, code=exc.code)
    if isinstance(exc, services.Conflict):
        return ConflictError(exc.message, code=exc.code)
    if isinstance(exc, ProtectedError):
        return ConflictError("Other records still refer to this one.", code="protected")
    if isinstance(exc, IntegrityError):
        return ConflictError("The request conflicts with another record.", code="integrity")
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def exception_handler(exc, context):
    exc = _translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let it be a 500 with a logged traceback
    data = response.data
    if isinstance(data, dict) and "detail" in data and "code" not in data:
        detail = data["detail"]
        data["code"] = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    if isinstance(data, dict) and set(data) == {api_settings.NON_FIELD_ERRORS_KEY}:
        data = data[api_settings.NON_FIELD_ERRORS_KEY]  # about the input as a whole: not a field's
    if isinstance(data, list):  # ValidationError("message") without a field
        code = getattr(data[0], "code", None) if data else None
        response.data = {"detail": " ".join(str(d) for d in data), "code": code if isinstance(code, str) else "invalid"}
    return response
