from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ... import selectors, services
from ...fields import encrypted_paths
from ...models import Account, Connection
from ...second_factor import VerifiedSessionAuthentication, is_fresh
from ...states import OPERATION_SPECS, OperationKind
from ..account_actions import ACCOUNT_ACTIONS, AccountAction
from ..filters import AccountFilter
from ..pagination import NewestFirstCursorPagination
from ..permissions import DEPROVISION, PROVISION, VIEW_SECRETS
from ..serializers.declared import DeclaredInputSerializer
from ..renderers import JPEGRenderer
from ..serializers import (
    AccountCreatedSerializer,
    AccountCreateSerializer,
    AccountSerializer,
    OperationSerializer,
    input_serializer_for,
)
from .base import ApiViewSet


@extend_schema_view(
    list=extend_schema(summary="List accounts"),
    retrieve=extend_schema(summary="An account"),
)
class AccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    # the POST actions of ACCOUNT_ACTIONS are added to this class below the class body

    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    pagination_class = NewestFirstCursorPagination
    action_permissions = {
        "create": ("provisioning.add_account", PROVISION),
        "destroy": (DEPROVISION,),
        "credentials": (VIEW_SECRETS,),
        **{spec.kind: (OPERATION_SPECS[spec.kind].permission,) for spec in ACCOUNT_ACTIONS},
    }
    async_actions = frozenset({"create", "destroy", *(spec.kind for spec in ACCOUNT_ACTIONS)})

    def get_queryset(self):
        has_image = ExpressionWrapper(Q(challenge_image__isnull=False), output_field=BooleanField())
        accounts = (
            Account.objects.select_related("connection")
            .annotate(has_challenge_image=has_image)
            .defer("challenge_image")
        )
        if self.action in ("list", "retrieve"):  # shown without their connection's credentials and state
            accounts = accounts.defer(*(f"connection__{name}" for name in encrypted_paths(Connection)))
        return selectors.accounts_with_pending_operation(accounts)

    def get_renderers(self):
        if self.action == "captcha":
            return [JSONRenderer(), JPEGRenderer()]
        return super().get_renderers()

    @extend_schema(
        summary="Create an account and request its provisioning",
        request=AccountCreateSerializer,
        responses=AccountCreatedSerializer,
        description="409 when the member already has an account at the connection.",
    )
    def create(self, request, format=None):
        wait = self.wait_seconds()
        serializer = AccountCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account, operation = services.account_create(**serializer.validated_data, requested_by=self.requester())

        def render(operation):
            account.refresh_from_db()
            return {"account": AccountSerializer(account).data, "operation": OperationSerializer(operation).data}

        return self.operation_accepted(operation, wait=wait, render=render)

    @extend_schema(
        summary="Deprovision an account",
        responses=OperationSerializer,
        description="Requests the deprovision operation; 409 when the provider has no delete API "
        "or the account's state does not allow it.",
    )
    def destroy(self, request, pk=None, format=None):
        wait = self.wait_seconds()
        operation = services.operation_request(
            kind=OperationKind.DEPROVISION, account=self.get_object(), requested_by=self.requester()
        )
        return self.operation_accepted(operation, wait=wait)

    @extend_schema(
        summary="The current captcha image (Flyve)",
        responses={
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, "The captcha, a JPEG image."),
        },
    )
    @action(detail=True, methods=["get"])
    def captcha(self, request, pk=None, format=None):
        account = self.get_object()
        if not account.challenge_image:
            raise NotFound("This account has no captcha to answer.", code="no_captcha")
        response = HttpResponse(bytes(account.challenge_image), content_type="image/jpeg")
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        summary="The account's decrypted secrets (needs view_account_secrets; audited)",
        responses=OpenApiResponse(OpenApiTypes.OBJECT, "The secrets, by name."),
    )
    @action(detail=True, methods=["get"])
    def credentials(self, request, pk=None, format=None):
        account = self.get_object()
        # a person's session (not a token) needs a fresh second factor, as in the admin
        if isinstance(request.successful_authenticator, VerifiedSessionAuthentication) and not is_fresh(request._request):
            raise PermissionDenied(
                "Reading secrets needs a fresh second factor: type a code at /admin/second-factor/?again=1, then retry."
            )
        secrets = services.account_secrets_read(account=account, user=request.user, via="api", request=request._request)
        return Response(secrets, headers={"Cache-Control": "no-store"})

    def run_account_action(self, spec: AccountAction) -> Response:
        wait = self.wait_seconds()
        account = self.get_object()
        body = DeclaredInputSerializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        operation = services.operation_request(
            kind=spec.kind, account=account, input=body.validated_data, requested_by=self.requester()
        )
        return self.operation_accepted(operation, wait=wait)


def _add_account_action(viewset, spec: AccountAction) -> None:
    """Make ``spec`` a POST action of ``viewset`` named like its operation kind."""

    def handler(self, request, pk=None, format=None):
        return self.run_account_action(spec)

    handler.__name__ = handler.__qualname__ = spec.kind
    handler.__doc__ = spec.summary
    shared = next(
        (a for a in viewset.get_extra_actions() if a.url_path == spec.path and "post" not in a.mapping), None
    )
    if shared is not None:  # e.g. GET and POST /captcha/
        shared.mapping.post(handler)
    else:
        url_name = spec.path.replace("/", "-")
        handler = action(detail=True, methods=["post"], url_path=spec.path, url_name=url_name)(handler)
    # after @action, which would replace what extend_schema attached
    handler = extend_schema(
        summary=spec.summary, request=input_serializer_for(spec.kind), responses=OperationSerializer
    )(handler)
    setattr(viewset, spec.kind, handler)


for _spec in ACCOUNT_ACTIONS:
    _add_account_action(AccountViewSet, _spec)
