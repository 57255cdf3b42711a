"""OpenAPI documentation shared by every API view.

``ApiSchema`` adds, to every operation, what the API's conventions promise (see the README's API section):
the ``Idempotency-Key`` header on POST and DELETE, ``?wait=`` and the ``Location`` header on
asynchronous actions, and the error answers each kind of operation can give (400, 401, 403,
404, 409, 422, 429). Views only declare which actions are asynchronous (``async_actions``).
"""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import MAX_KEY_LENGTH
from .ids import MAX_ID
from .serializers import ErrorSerializer

MAX_WAIT_SECONDS = 30
# which accounts keep their member or connection from being deleted (the rule:
# ``selectors.accounts_kept``), in a consumer's words
MAY_EXIST_AT_PROVIDER = (
    "An account may exist at its provider unless it is deprovisioned, or it is pending or failed with "
    "nothing running for it and either no request for it ever sent (pending) or every request for it "
    "refused by the provider as coming from a caller it does not know (wrong credentials), none tried twice."
)
# Django refuses NUL characters in text (PostgreSQL cannot store them): say so in the schema
NO_NUL_PATTERN = "^[^\\x00]*$"

IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    description="Any unique string (e.g. a UUID). The first response to it is stored for 24 h and "
    "replayed for the same request; the same key with a different request is a 422.",
)
WAIT = OpenApiParameter(
    "wait",
    {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
    OpenApiParameter.QUERY,
    description=f"Seconds (at most {MAX_WAIT_SECONDS}) to wait for the operation to finish: 200 "
    "with the finished operation, or 202 when the time runs out.",
)
LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    description="Where to follow the operation (or batch).",
    response=[200, 202],
)

BAD_REQUEST = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description='Invalid input: field errors ({"field": ["message"]}) or {"detail", "code"}.',
)
ERROR_DESCRIPTIONS = {
    401: "Not authenticated.",
    403: "Authenticated without the permission this needs.",
    404: "No such object (or page).",
    409: "The state of the account, connection or provider does not allow this now, or a "
    "request with the same Idempotency-Key is still running.",
    422: "The Idempotency-Key was used with a different request.",
    429: "Too many requests; see Retry-After.",
}
ASYNC_DESCRIPTIONS = {
    "200": "Finished within the ?wait= seconds.",
    "202": "Accepted: queued or running; follow Location.",
}
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class VerifiedSessionScheme(SessionScheme):
    """The session cookie stays documented (``cookieAuth``) with the second factor's session class."""

    target_class = "provisioning.second_factor.VerifiedSessionAuthentication"


class ApiSchema(AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and isinstance(schema, dict)
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
        ):
            schema["pattern"] = NO_NUL_PATTERN
        return schema

    def _resolve_path_parameters(self, variables):
        # the URL pattern takes any segment (so a malformed id is a JSON 404); the id is a number
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"] == "id":
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
                parameter.setdefault("description", "The object's id.")
        return parameters

    def get_tags(self):
        tokens = [t for t in self._tokenize_path() if t != "v1"]
        return tokens[:1] or super().get_tags()

    def _is_async(self) -> bool:
        return getattr(self.view, "action", None) in getattr(self.view, "async_actions", ())

    def _is_detail(self) -> bool:
        return "{" in self.path

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method in ("POST", "DELETE"):
            parameters.append(IDEMPOTENCY_KEY)
        if self._is_async():
            parameters += [WAIT, LOCATION]
        return parameters

    def _error_codes(self) -> list[int]:
        codes = [401, 403, 429]
        if self._is_detail() or self._is_list():
            codes.append(404)
        if self.method in WRITE_METHODS or self._is_list():
            codes.append(400)
        if self.method in ("POST", "DELETE"):
            codes += [409, 422]
        return codes

    def _is_list(self) -> bool:
        return self.method == "GET" and getattr(self.view, "action", None) == "list"

    def _get_response_bodies(self, direction="response"):
        body = self.get_response_serializers()
        if self._is_async() and not isinstance(body, dict):
            if isinstance(body, OpenApiResponse):
                body = body.response
            responses = {
                code: self._get_response_for_code(
                    OpenApiResponse(body, description), code, direction=direction
                )
                for code, description in ASYNC_DESCRIPTIONS.items()
            }
        else:
            responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if str(code) in responses:
                continue
            body = BAD_REQUEST if code == 400 else OpenApiResponse(ErrorSerializer, ERROR_DESCRIPTIONS[code])
            responses[str(code)] = self._get_response_for_code(body, str(code), direction=direction)
        return dict(sorted(responses.items()))


def provider_kinds_hook(result, generator, request, public):
    """Provider kinds come from the registry (a setting), not from a fixed list: the schema
    enumerates the ones installed when it is generated, for the ``provider`` filters and the
    ``kind`` of ``/providers/{kind}/``."""
    from ..providers import registry

    kinds = {"type": "string", "enum": list(registry.all_providers())}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else ():
                if (parameter["name"], parameter["in"]) in (("provider", "query"), ("kind", "path")):
                    parameter["schema"] = dict(kinds)
    return result
