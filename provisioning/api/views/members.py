from drf_spectacular.utils import extend_schema, extend_schema_view

from ... import selectors, services
from ...models import Member
from ..filters import MemberFilter
from ..schema import MAY_EXIST_AT_PROVIDER
from ..serializers import MemberSerializer
from .base import ApiModelViewSet


@extend_schema_view(
    list=extend_schema(summary="List members"),
    create=extend_schema(summary="Create a member"),
    retrieve=extend_schema(summary="A member and their accounts"),
    partial_update=extend_schema(summary="Change a member"),
    destroy=extend_schema(
        summary="Delete a member",
        description="Deletes the member with its accounts, their operations and their exchanges with the "
        "providers. Refused (409 member_has_accounts) while one of its accounts may exist at its provider; the "
        f"detail says which and what to do. {MAY_EXIST_AT_PROVIDER}",
    ),
)
class MemberViewSet(ApiModelViewSet):
    queryset = selectors.members_with_accounts(Member.objects.all())
    serializer_class = MemberSerializer
    filterset_class = MemberFilter

    def perform_destroy(self, member):
        services.member_delete(member=member)
