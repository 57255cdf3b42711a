"""Query filters of the lists (django-filter). Unknown enum values are a 400; ids that do not
exist simply match nothing."""

import django_filters
from django import forms
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field

from django_filters.rest_framework import DjangoFilterBackend

from .. import selectors
from ..models import Account, Batch, Connection, Member, Operation, WebhookDelivery, WebhookEventType
from ..providers import registry
from ..states import AccountStatus, OperationKind, OperationStatus
from .ids import MAX_ID
from .schema import NO_NUL_PATTERN


class FilterBackend(DjangoFilterBackend):
    """django-filter without the browsable API's filter form: that form sends every field,
    empty ones included, which the strict filters below refuse. Query strings work as usual."""

    def to_html(self, request, queryset, view):
        return None


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An id: a whole number from 1 (matching nothing when no such object exists)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "string", "pattern": NO_NUL_PATTERN})
class TextFilter(django_filters.CharFilter):
    """Text to match; NUL characters are refused (400), as everywhere in the API."""


class ProviderKindField(forms.CharField):
    default_validators = [registry.validate_kind]


@extend_schema_field({"type": "string", "minLength": 1, "pattern": "^[a-z0-9_-]+$"})
class ProviderFilter(django_filters.CharFilter):
    """An installed provider's kind (``GET /api/v1/providers/`` lists them; they come from the
    registry, not from a fixed list, so the schema cannot enumerate them). Any other is a 400."""

    field_class = ProviderKindField


@extend_schema_field({"type": "string", "enum": ["true", "false"]})
class TrueFalseFilter(django_filters.ChoiceFilter):
    """A yes-or-no filter, ``true`` or ``false``, applied by its ``method``. The schema says those
    two strings: named after a model's boolean field, it would otherwise read as a boolean, which
    also allows other spellings the filter refuses."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, choices=[("true", "true"), ("false", "false")], **kwargs)


class StrictFilterSet(django_filters.FilterSet):
    """Refuses an empty value for a typed filter (enum, id): ``?status=`` is a 400, not "any".

    Text filters (``email``, ``search``...) may be empty: that matches as it says.
    """

    def is_valid(self):
        valid = super().is_valid()
        for name, filter_ in self.filters.items():
            typed = isinstance(filter_, (django_filters.ChoiceFilter, ProviderFilter))
            if isinstance(filter_, django_filters.CharFilter) and not typed:
                continue
            if name in self.data and self.data.get(name) == "":
                self.form.add_error(name, "Give a value or leave the parameter out.")
                valid = False
        return valid


class WebhookDeliveryFilter(StrictFilterSet):
    type = django_filters.ChoiceFilter(field_name="event__type", choices=WebhookEventType.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["type"]


class ConnectionFilter(StrictFilterSet):
    provider = ProviderFilter()

    class Meta:
        model = Connection
        fields = ["provider"]


def member_search(value: str) -> Q:
    """Members with every word of ``value`` in their email, a name, the phone or the reference
    (any case). On PostgreSQL each field's trigram index serves its "contains" (migration 0017)."""
    query = Q()
    for word in value.split():
        query &= (
            Q(email__icontains=word)
            | Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(phone__icontains=word)
            | Q(external_ref__icontains=word)
        )
    return query


class MemberFilter(StrictFilterSet):
    email = TextFilter(lookup_expr="iexact")
    external_ref = TextFilter()
    search = TextFilter(
        method="filter_search", label="Matches email, name, phone or external_ref (contains)."
    )
    has_accounts = TrueFalseFilter(
        method="filter_has_accounts",
        label="Members with at least one account (at any connection, in any status), or (false) with none.",
    )

    class Meta:
        model = Member
        fields = ["email", "external_ref", "search", "has_accounts"]

    def filter_has_accounts(self, queryset, name, value):
        return queryset.filter(has_accounts=value == "true")

    def filter_search(self, queryset, name, value):
        matching = queryset.filter(member_search(value))
        ids, more = selectors.first_ids(matching, selectors.IDS_FIRST)
        if more:  # words many members share: the page filters by them
            return matching
        # newest first by id, which the ids' own index answers in order: by date (the list's
        # order), PostgreSQL walked the members' date index to find them, 205-298 ms for one
        # member of 500,000 (ids are given out as members are made)
        return queryset.filter(pk__any_of=ids).order_by("-id")


class AccountFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=AccountStatus.choices)
    provider = ProviderFilter(method="filter_provider")
    connection = IdFilter(field_name="connection_id")
    member = IdFilter(field_name="member_id")
    needs_person = TrueFalseFilter(
        method="filter_needs_person",
        label="Accounts a person must act on (awaiting a captcha, an SMS code or a validation, failed, "
        "or flagged: attention set), or (false) the others.",
    )

    class Meta:
        model = Account
        fields = ["status", "provider", "connection", "member", "needs_person"]

    def filter_provider(self, queryset, name, value):
        return queryset.filter(selectors.of_provider(value))

    def filter_needs_person(self, queryset, name, value):
        needs_person = selectors.NEEDS_PERSON
        return queryset.filter(needs_person) if value == "true" else queryset.exclude(needs_person)


class OperationFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=OperationStatus.choices)
    kind = django_filters.ChoiceFilter(choices=OperationKind.choices)
    account = IdFilter(field_name="account_id")
    connection = IdFilter(field_name="connection_id")
    batch = IdFilter(field_name="batch_id")

    class Meta:
        model = Operation
        fields = ["status", "kind", "account", "connection", "batch"]


class BatchFilter(StrictFilterSet):
    connection = IdFilter(field_name="connection_id")

    class Meta:
        model = Batch
        fields = ["connection"]
