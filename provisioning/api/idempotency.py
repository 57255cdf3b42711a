"""``Idempotency-Key`` for every POST and DELETE of the API.

The first response to a key is stored (``IdempotencyRecord``, one per user and key) and replayed
for 24 h (``PROVISIONING["IDEMPOTENCY_TTL_HOURS"]``) when the same user sends the same key with
the same request again: same method, same path, same body (parsed and canonicalised, so
whitespace and key order do not matter; the query string, e.g. ``?wait=``, is not part of it).
The same key with a different request is a 422.

What is stored: every answer the view produced with a status below 500, except 409 and 429,
which say "not now" rather than "this is the result" (a busy account, a throttle): after one of
those the key is released and the client may try again with it. A 5xx or an unexpected
exception releases the key too. Authentication, permission and throttling failures happen
before the key is looked at and are never stored.

Concurrent requests with the same key: the unique constraint on (user, key) decides. The
first one inserts an empty record and goes on; a second one that finds the record still
without a response gets a 409 ``idempotency_key_in_use`` at once (it does not wait) and may
repeat the request later to get the replay.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from ..models import IdempotencyRecord
from .exceptions import BadRequest, ConflictError, UnprocessableError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
METHODS = ("POST", "DELETE")
REPLAYED_HEADER = "Idempotent-Replayed"
REPLAYED_RESPONSE_HEADERS = ("Location",)
NOT_STORED_STATUSES = (409, 429)


class Replay(Exception):
    """Raised from ``initial`` to answer with a stored response instead of running the view."""

    def __init__(self, response: Response):
        self.response = response


def request_fingerprint(request) -> str:
    """sha256 of method, path and canonical body."""
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict from a form post
        data = {key: values for key, values in data.lists()}
    body = json.dumps(data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"), default=repr)
    raw = f"{request.method}\n{request.path}\n{body}".encode()
    return hashlib.sha256(raw).hexdigest()


def _key_of(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key:
        raise BadRequest(f"The {HEADER} header is empty.", code="invalid_idempotency_key")
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest(
            f"The {HEADER} header is longer than {MAX_KEY_LENGTH} characters.", code="invalid_idempotency_key"
        )
    return key


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.status_code)
    for name, value in record.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def idempotency_begin(request) -> IdempotencyRecord | None:
    """Reserve the request's key; raise ``Replay`` with the stored response when it was answered."""
    if request.method not in METHODS:
        return None
    key = _key_of(request)
    if key is None:
        return None
    fingerprint = request_fingerprint(request)
    expired_before = timezone.now() - timedelta(hours=settings.PROVISIONING["IDEMPOTENCY_TTL_HOURS"])
    IdempotencyRecord.objects.filter(user=request.user, key=key, created_at__lt=expired_before).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=request.user, key=key, method=request.method, path=request.path, body_hash=fingerprint
            )
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
    if record is None:  # released between our insert and this read: the caller may try again
        raise ConflictError("This Idempotency-Key is in use by another request.", code="idempotency_key_in_use")
    if record.body_hash != fingerprint:
        raise UnprocessableError(
            "This Idempotency-Key was used with a different request.", code="idempotency_key_reused"
        )
    if record.status_code is None:
        raise ConflictError(
            "A request with this Idempotency-Key is still being processed; repeat it later.",
            code="idempotency_key_in_use",
        )
    raise Replay(_replay(record))


def idempotency_complete(record: IdempotencyRecord, response) -> None:
    """Store ``response`` as the answer to ``record``'s key, or release the key."""
    status_code = response.status_code
    data = getattr(response, "data", None)
    if status_code >= 500 or status_code in NOT_STORED_STATUSES or not isinstance(response, Response):
        idempotency_release(record)
        return
    text = json.dumps(data, cls=JSONEncoder)
    if "\\u0000" in text:  # PostgreSQL's jsonb holds no NUL: an answer echoing one (a 400) is not kept
        idempotency_release(record)
        return
    record.status_code = status_code
    record.response_body = json.loads(text) if data is not None else None
    record.response_headers = {
        name: response[name] for name in REPLAYED_RESPONSE_HEADERS if response.has_header(name)
    }
    record.save(update_fields=["status_code", "response_body", "response_headers"])


def idempotency_release(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()


class IdempotentMixin:
    """For API views: honours ``Idempotency-Key`` on POST and DELETE (see the module docstring).

    The key is looked at after authentication, permissions and throttling (``initial``), and the
    answer stored in ``finalize_response``; a stored answer is replayed without running the view.
    """

    _idempotency_record = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if hasattr(self, request.method.lower()):  # else a 405 follows: nothing to remember
            self._idempotency_record = idempotency_begin(request)

    def handle_exception(self, exc):
        if isinstance(exc, Replay):
            return exc.response
        try:
            return super().handle_exception(exc)
        except Exception:
            if self._idempotency_record is not None:
                idempotency_release(self._idempotency_record)
                self._idempotency_record = None
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency_record = self._idempotency_record, None
        if record is not None:
            idempotency_complete(record, response)
        return response
