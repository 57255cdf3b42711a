"""What every API viewset shares: idempotency, pagination, throttling, JSON, 202 answers."""

from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ... import selectors, services
from ...models import Operation
from ..filters import FilterBackend
from ..idempotency import IdempotentMixin
from ..ids import parse_id
from ..pagination import Pagination
from ..schema import ApiSchema
from ..serializers import OperationSerializer
from ..throttling import ApiRateThrottle
from ..waiting import requested_wait, wait_until


class ApiViewSet(IdempotentMixin, viewsets.GenericViewSet):
    """Base of the API's viewsets.

    ``action_permissions`` names the permissions of actions that need more (or other) than
    the model permission of their HTTP method (see ``permissions.ModelPermissions``);
    ``async_actions`` lists the actions that answer 202 (documented with ``?wait=``).
    """

    pagination_class = Pagination
    filter_backends = [FilterBackend]
    parser_classes = [JSONParser]
    throttle_classes = [ApiRateThrottle]
    schema = ApiSchema()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # any id-like segment reaches the view, which answers a JSON 404 for one that is not an id
    lookup_value_regex = r"[^/]+"
    action_permissions: dict[str, tuple[str, ...]] = {}
    async_actions: frozenset[str] = frozenset()

    def get_object(self):
        lookup = self.lookup_url_kwarg or self.lookup_field
        if parse_id(self.kwargs.get(lookup)) is None:
            raise NotFound()
        return super().get_object()

    def requester(self) -> services.Requester:
        return services.Requester.for_user(self.request.user, "api")

    def wait_seconds(self) -> int | None:
        """Validate ``?wait=`` before doing anything (a bad value is a 400 with no side effect)."""
        return requested_wait(self.request)

    def accepted(self, *, location: str, wait: int | None, is_finished, render) -> Response:
        """202 with ``render()`` and ``Location``; 200 when the work finished within ``wait``."""
        finished = wait is not None and wait_until(is_finished, wait)
        code = status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED
        return Response(render(), status=code, headers={"Location": location})

    def operation_url(self, operation: Operation) -> str:
        return reverse("api:operation-detail", args=[operation.pk], request=self.request)

    def operation_accepted(self, operation: Operation, *, wait: int | None, render=None) -> Response:
        """The answer to anything that requested an operation: the operation (or ``render(op)``)."""

        def render_operation():
            operation.refresh_from_db()
            return render(operation) if render else OperationSerializer(operation).data

        return self.accepted(
            location=self.operation_url(operation),
            wait=wait,
            is_finished=lambda: selectors.operation_is_finished(operation.pk),
            render=render_operation,
        )


class ApiModelViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ApiViewSet,
):
    """List, create, read, update and delete, with everything ``ApiViewSet`` adds."""
