"""List filters that cost nothing to show, whatever the size of the table.

Django's filters on a plain field (``list_filter = ("error_code",)``) list their choices with
``SELECT DISTINCT`` over the whole table, and filters across a to-many relation make the whole
list ``DISTINCT``: on millions of rows each costs seconds. These list fixed choices (the provider
registry, the error codes the portal explains, HTTP methods and status classes) and filter with
plain lookups or ``EXISTS``.
"""

from __future__ import annotations

from collections import Counter

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q
from django.utils.functional import cached_property
from django_countries.filters import CountryFilter

from .. import explain, selectors
from ..fields import encrypted_paths
from ..models import Account
from ..providers import registry


class ChoicesFilter(admin.SimpleListFilter):
    """Fixed ``choices`` [(value, label)]; ``lookup(value)`` is the ``Q`` of one."""

    choices_list: list[tuple[str, str]] = []

    def lookups(self, request, model_admin):
        return self.choices_list

    def lookup(self, value) -> Q:
        raise NotImplementedError

    def queryset(self, request, queryset):
        value = self.value()
        if value is None or value not in {str(v) for v, _ in self.lookup_choices}:  # lookups(), read once
            return queryset
        return queryset.filter(self.lookup(value))


class WordsFilter(ChoicesFilter):
    """A status field's values named as its badges name them (``explain``'s words, "Needs a captcha
    answer"), not by the model's labels ("Awaiting Captcha"): the filter and the column a person
    reads say the same. Its URL is Django's own (``status__exact=failed``), so links made for the
    field's filter still work."""

    field_name = ""
    words: dict[str, tuple[str, str]] = {}

    def lookups(self, request, model_admin):
        return words_choices(self.words)

    def lookup(self, value):
        return Q(**{self.field_name: value})


def words_choices(words: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """``[(value, words)]`` of one of ``explain``'s ``{value: (words, tone)}``."""
    return [(value, said) for value, (said, _tone) in words.items()]


class AccountStatusFilter(WordsFilter):
    title = "status"
    parameter_name = "status__exact"
    field_name = "status"
    words = explain.ACCOUNT_STATUS_WORDS


class OperationStatusFilter(WordsFilter):
    title = "status"
    parameter_name = "status__exact"
    field_name = "status"
    words = explain.OPERATION_STATUS_WORDS


class HealthFilter(WordsFilter):
    title = "health"
    parameter_name = "health_status__exact"
    field_name = "health_status"
    words = explain.HEALTH_WORDS


class ConnectionFilter(admin.RelatedFieldListFilter):
    """Django's filter on the row's connection, whose choices are read without the connections'
    credentials and state: naming each one on every list page decrypts no secret.
    ``list_filter = (("connection", ConnectionFilter),)``."""

    def field_choices(self, field, request, model_admin):
        related = field.remote_field.model
        ordering = self.field_admin_ordering(field, request, model_admin)
        choices = related._default_manager.complex_filter(field.get_limit_choices_to()).defer(*encrypted_paths(related))
        if ordering:
            choices = choices.order_by(*ordering)
        value = field.remote_field.get_related_field().attname
        return [(getattr(choice, value), str(choice)) for choice in choices]


class ProviderFilter(ChoicesFilter):
    """The provider of the row's connection, among the installed ones."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        return registry.choices()

    def lookup(self, value):
        return selectors.of_provider(value)


class ConnectionProviderFilter(ProviderFilter):
    """The connection's provider, by its name (the field's own filter lists the raw kinds)."""

    def lookup(self, value):
        return Q(provider=value)


class ErrorCodeFilter(ChoicesFilter):
    """The errors operations carry (``selectors.error_codes_present``, not every error the portal
    could explain), and the one chosen; none at all: no filter."""

    title = "error"
    parameter_name = "error_code"

    def lookups(self, request, model_admin):
        codes = set(selectors.error_codes_present())
        if self.value():
            codes.add(self.value())  # chosen from a link: shown, to be seen and unchosen
        # in words, by their words ("captcha failed" read as a code); two codes that mean the
        # same to a person keep their code to tell them apart
        words = {code: explain.error_summary(code) for code in codes}
        times = Counter(words.values())
        return sorted(
            ((code, f"{w} ({code.replace('_', ' ')})" if times[w] > 1 else w) for code, w in words.items()),
            key=lambda choice: choice[1],
        )

    def lookup(self, value):
        return Q(error_code=value)


class ViaFilter(ChoicesFilter):
    """Where secrets were read: in the admin, through the API (``explain.via_words``)."""

    title = "where"
    parameter_name = "via"
    choices_list = explain.via_choices()

    def lookup(self, value):
        return Q(via=value)


class MethodFilter(ChoicesFilter):
    title = "method"
    parameter_name = "method"
    choices_list = [(m, m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")]

    def lookup(self, value):
        return Q(method=value)


class StatusClassFilter(ChoicesFilter):
    """``2xx`` ... ``5xx``, or no answer at all (timeout, refused)."""

    title = "answer"
    parameter_name = "answer"
    choices_list = [("2xx", "2xx"), ("3xx", "3xx"), ("4xx", "4xx"), ("5xx", "5xx"), ("none", "no answer")]

    def lookup(self, value):
        if value == "none":
            return Q(status_code__isnull=True)
        first = int(value[0]) * 100
        return Q(status_code__gte=first, status_code__lt=first + 100)


def member_has_account(*conditions, **lookups) -> Exists:
    return Exists(Account.objects.filter(*conditions, member=OuterRef("pk"), **lookups))


class MemberAccountStatusFilter(ChoicesFilter):
    """Members with at least one account in a status (or with none at all)."""

    title = "account status"
    parameter_name = "account_status"
    choices_list = [("none", "No account"), *words_choices(explain.ACCOUNT_STATUS_WORDS)]

    def lookup(self, value):
        return Q(has_accounts=False) if value == "none" else member_has_account(status=value)


class MemberProviderFilter(ProviderFilter):
    """Members with an account at a provider."""

    def lookup(self, value):
        return member_has_account(selectors.of_provider(value))


class MemberCountryFilter(CountryFilter):
    """The countries members live in (``selectors.member_countries``: not ``SELECT DISTINCT``
    over every member)."""

    def lookup_choices(self, changelist):
        return [(code, name) for code, name in self.field.get_choices(include_blank=False) if code in self.codes]

    @cached_property
    def codes(self) -> set[str]:
        return set(selectors.member_countries())

    def has_output(self):
        # no member has a country: no filter of "All" alone
        return bool(self.codes) or any(self.used_parameters.values())
