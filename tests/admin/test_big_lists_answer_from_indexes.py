"""The lists of big tables: searches on indexed lookups, filters with fixed choices, no exact
count beyond a bound, an operation's page with its first exchanges only."""

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from provisioning import selectors, services
from provisioning.admin import operations as operations_admin
from provisioning.admin.paging import list_count
from provisioning.models import Account, Connection, ExternalCall, Member, Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus


@pytest.fixture
def rows(connection):
    """Two members with an account each (one failed, one active) and an operation with calls."""
    other = Connection.objects.create(provider="kandy", name="Other", base_url="http://k.test", credentials={})
    ann = Member.objects.create(email="Ann.Lee@example.org", external_ref="HR-7", country="FR")
    bob = Member.objects.create(email="bob@example.org", country="SG")
    active = Account.objects.create(member=ann, connection=connection, status=AccountStatus.ACTIVE, external_id="remote-9")
    failed = Account.objects.create(member=bob, connection=other, status=AccountStatus.FAILED)
    services.members_note_accounts([ann.pk, bob.pk])  # as the services that add accounts do
    failing = Operation.objects.create(
        kind=OperationKind.PROVISION, status=OperationStatus.FAILED, account=failed, connection=other,
        requested_by="admin:x", error_code="quota_exceeded",
    )
    fine = Operation.objects.create(
        kind=OperationKind.SYNC, status=OperationStatus.SUCCEEDED, account=active, connection=connection, requested_by="admin:x",
    )
    ExternalCall.objects.create(operation=failing, connection=other, method="POST", url="http://k.test/u", status_code=503)
    ExternalCall.objects.create(operation=fine, connection=connection, method="GET", url="http://s.test/u", status_code=200)
    return {"ann": ann, "bob": bob, "active": active, "failed": failed, "failing": failing, "fine": fine}


def listed(client, model, query):
    response = client.get(reverse(f"admin:provisioning_{model}_changelist") + "?" + query)
    assert response.status_code == 200
    return sorted(obj.pk for obj in response.context["cl"].result_list)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("q=ann.lee@EXAMPLE.org", ["active"]),
        ("q=ann", ["active"]),  # the beginning of an email, any case
        ("q=HR-7", ["active"]),  # a member's reference
        ("q=remote-9", ["active"]),  # the id at the provider
        ("q=example.org", []),  # not "contains": a search reads indexes only
        ("status__exact=failed", ["failed"]),
        ("provider=kandy", ["failed"]),
    ],
)
def test_account_list(admin_client, rows, query, expected):
    assert listed(admin_client, "account", query) == sorted(rows[name].pk for name in expected)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("q={failing}", ["failing"]),
        ("q=%23{fine}", ["fine"]),
        ("q=bob@", ["failing"]),
        ("q=remote-9", ["fine"]),
        ("error_code=quota_exceeded", ["failing"]),
        ("provider=kandy", ["failing"]),
        ("created_at__gte=2000-01-01T00:00:00%2B00:00", ["failing", "fine"]),
    ],
)
def test_operation_list(admin_client, rows, query, expected):
    query = query.format(failing=rows["failing"].pk, fine=rows["fine"].pk)
    assert listed(admin_client, "operation", query) == sorted(rows[name].pk for name in expected)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("account_status=failed", ["bob"]),
        ("account_status=none", []),
        ("provider=kandy", ["bob"]),
        ("country=FR", ["ann"]),
        ("q=BOB", ["bob"]),
        ("q=HR-7", ["ann"]),
    ],
)
def test_member_list(admin_client, rows, query, expected):
    assert listed(admin_client, "member", query) == sorted(rows[name].pk for name in expected)


def test_the_account_search_filters_the_list_by_the_accounts_it_found(admin_client, rows):
    """Not by the members it found, and newest first by id, not by date: given a thousand
    members' ids (a term that many emails begin with), or the ids of their accounts, PostgreSQL
    walked the list's date index through every account (177-560 ms at 1,000,000 accounts,
    against 0.1 ms for the ids in their own index)."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db) as queries:
        assert listed(admin_client, "account", "q=ann") == [rows["active"].pk]

    listing = [query["sql"] for query in queries if query["sql"].startswith('SELECT "provisioning_account"."id", ')]
    by = "= ANY(" if db.vendor == "postgresql" else "IN ("  # the ids as one array (lookups.AnyOf)
    assert listing and all(f'"provisioning_account"."member_id" {how}' not in sql for sql in listing
                           for how in ("IN (", "= ANY("))
    assert all(f'"provisioning_account"."id" {by}' in sql for sql in listing)
    assert all('ORDER BY "provisioning_account"."id" DESC' in sql for sql in listing)


@pytest.mark.parametrize("model", ["account", "operation"])
def test_a_search_that_stops_before_all_it_matches_says_so(admin_client, rows, monkeypatch, model):
    """A beginning many emails share found the accounts of the first 1,000 members only, and the
    list read as if they were all: "Select all 1000 accounts" of more than 11,000."""
    from provisioning.admin import search

    more = Member.objects.create(email="ann.b@example.org")
    Account.objects.create(member=more, connection=rows["active"].connection, status=AccountStatus.ACTIVE)
    Operation.objects.create(kind=OperationKind.SYNC, status=OperationStatus.SUCCEEDED, account=more.accounts.get(),
                             connection=rows["active"].connection, requested_by="admin:x")
    url = reverse(f"admin:provisioning_{model}_changelist")
    monkeypatch.setattr(search, "MATCH_LIMIT", 1)  # two members' emails begin with "ann"

    page = admin_client.get(url + "?q=ann").content.decode()
    assert "“ann” matches more than the search reads at once (1): the list shows only what it read" in page
    assert "Type more of the email, or all of it, to narrow the search." in page
    assert "matches more than" not in admin_client.get(url + "?q=ann.b").content.decode()
    monkeypatch.setattr(search, "MATCH_LIMIT", 2)
    assert "matches more than" not in admin_client.get(url + "?q=ann").content.decode()


def test_the_member_search_finds_every_match_by_id_or_by_its_condition(admin_client, rows, monkeypatch):
    """Up to IDS_FIRST matches the list reads them by id (PostgreSQL walked the date
    index past every later member to find a beginning made together); beyond, by the condition:
    either way all of them, which "select all" takes."""
    from provisioning.admin import search

    more = Member.objects.create(email="ANNA@example.org")
    wanted = sorted([rows["ann"].pk, more.pk])
    assert listed(admin_client, "member", "q=ann") == wanted
    monkeypatch.setattr(search, "IDS_FIRST", 1)
    assert listed(admin_client, "member", "q=ann") == wanted
    assert listed(admin_client, "member", "q=HR-7") == [rows["ann"].pk]


def test_a_search_lists_operations_newest_first_by_id(admin_client, rows):
    """By date, PostgreSQL walked the date index of 5,000,000 operations for those of the
    thousand accounts a broad search found: 7.0 s, against 7.5 ms by id."""
    url = reverse("admin:provisioning_operation_changelist")
    assert admin_client.get(url + "?q=ann").context["cl"].queryset.query.order_by[0] == "-pk"
    assert admin_client.get(url).context["cl"].queryset.query.order_by[0] in ("-created_at", "-created")


def test_the_account_list_without_a_search_is_newest_first_by_date(admin_client, rows):
    response = admin_client.get(reverse("admin:provisioning_account_changelist"))
    assert response.context["cl"].queryset.query.order_by[0] in ("-created_at", "-created")


def test_member_list_offers_the_countries_of_members(admin_client, rows):
    page = admin_client.get(reverse("admin:provisioning_member_changelist")).content.decode()
    assert "?country=FR" in page and "?country=SG" in page and "?country=DE" not in page


def test_without_a_country_the_member_list_has_no_country_filter(admin_client, db):
    # it showed "By country" with "All" alone
    Member.objects.create(email="nowhere@example.org")
    page = admin_client.get(reverse("admin:provisioning_member_changelist")).content.decode()
    assert "By country" not in page
    assert "By country" in admin_client.get(reverse("admin:provisioning_member_changelist") + "?country=FR").content.decode()


def test_the_operation_lists_error_filter_offers_the_errors_operations_carry(admin_client, rows):
    # it listed all 35 errors the portal can explain, whether or not any operation had one
    url = reverse("admin:provisioning_operation_changelist")
    page = admin_client.get(url).content.decode()
    choices = re.findall(r'<a href="\?error_code=(\w+)"', page)
    assert choices == ["quota_exceeded"]
    assert "The provider&#x27;s quota of users is full" in page
    # one chosen from a link that no operation carries is shown, chosen, to be unchosen
    page = admin_client.get(url + "?error_code=captcha_failed").content.decode()
    assert re.search(r'<li class="selected">\s*<a href="[^"]*">The captcha answer was wrong</a>', page)
    Operation.objects.update(error_code="")
    assert "By error" not in admin_client.get(url).content.decode()


def test_the_error_codes_present_are_those_operations_carry_sorted(connection):
    for code in ("timeout", "quota_exceeded", "timeout", "captcha_failed", ""):
        Operation.objects.create(kind=OperationKind.SYNC, status=OperationStatus.FAILED, connection=connection,
                                 requested_by="t", error_code=code)
    assert selectors.error_codes_present() == ["captcha_failed", "quota_exceeded", "timeout"]


@pytest.mark.parametrize("query, expected", [("answer=5xx", "failing"), ("method=GET", "fine"), ("answer=2xx", "fine")])
def test_call_list(admin_client, rows, query, expected):
    calls = listed(admin_client, "externalcall", query)
    assert calls == [rows[expected].calls.get().pk]


@pytest.mark.parametrize("answer", ["5xx", "4xx", "3xx", "none"])
def test_the_call_lists_rare_answers_are_served_by_an_index(rf, admin_user, rows, answer):
    """The calls that did not succeed may be few among millions: walking the index of every call
    newest first went through the whole table for a 5xx (2,000,000 calls: 95-160 ms for the count
    and as much for the page). Their matches, as the count reads them, come from an index."""
    from django.contrib.admin.sites import site

    from tests.conftest import plan_without_table_scans

    request = rf.get("/", {"answer": answer})
    request.user = admin_user
    changelist = site._registry[ExternalCall].get_changelist_instance(request)

    plan = plan_without_table_scans(changelist.get_queryset(request).order_by())
    assert "externalcall_not_2xx_idx" in plan and "Seq Scan" not in plan


def test_call_list_searches_an_operation(admin_client, rows):
    calls = listed(admin_client, "externalcall", f"q={rows['fine'].pk}")
    assert calls == [rows["fine"].calls.get().pk]


def test_counts_are_exact_up_to_the_bound(rows):
    from django.db import connection

    assert list_count(Operation.objects.all(), bound=5) == (2, True)
    count, exact = list_count(Operation.objects.all(), bound=1)
    if connection.vendor == "postgresql":  # beyond the bound, the planner's estimate (at least what was counted)
        assert not exact and count >= 2
    else:  # another database (SQLite: small tables): an exact count
        assert (count, exact) == (2, True)


def test_a_list_says_about_when_its_count_is_an_estimate(admin_client, rows, monkeypatch):
    from provisioning.admin import paging

    url = reverse("admin:provisioning_operation_changelist")
    assert re.search(r"\s2 operations", admin_client.get(url).content.decode())
    monkeypatch.setattr(operations_admin.OperationAdmin, "list_per_page", 1)  # more than a page: counted
    monkeypatch.setattr(paging, "list_count", lambda queryset, bound=paging.COUNT_BOUND: (1_000_000, False))
    assert "about 1000000 operations" in admin_client.get(url).content.decode()


@pytest.mark.parametrize("query, expected", [("account_status=none", []), ("account_status=failed", ["bob"])])
def test_a_list_that_fits_its_first_page_is_read_once(admin_client, rows, query, expected):
    """A filter few rows match makes the database walk the whole table: the members with no
    account took 348 ms to count and 388 ms to list on the million-account data set."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        members = listed(admin_client, "member", query)

    assert members == sorted(rows[name].pk for name in expected)
    listing = [q["sql"] for q in queries if q["sql"].startswith('SELECT') and 'FROM "provisioning_member"' in q["sql"]]
    assert len(listing) == 1 and "COUNT" not in listing[0]  # not the countries of the filter either


def test_a_list_of_several_pages_is_counted_and_each_page_holds_its_rows(admin_client, rows, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(operations_admin.OperationAdmin, "list_per_page", 1)
    url = reverse("admin:provisioning_operation_changelist")
    first = admin_client.get(url).context["cl"]
    with CaptureQueriesContext(connection) as queries:
        second = admin_client.get(url + "?p=2").context["cl"]

    assert (first.result_count, second.result_count) == (2, 2)
    assert [o.pk for o in first.result_list] == [rows["fine"].pk]
    assert [o.pk for o in second.result_list] == [rows["failing"].pk]
    # a later page is counted, then read: the first page is not read for it
    # (beside the rows' accounts' latest operations: GROUP BY, by account)
    listed_rows = [q["sql"] for q in queries if 'FROM "provisioning_operation"' in q["sql"] and "GROUP BY" not in q["sql"]
                   and not q["sql"].startswith("WITH RECURSIVE")]  # the error filter's errors
    assert len(listed_rows) == 2 and "COUNT" in listed_rows[0] and "OFFSET" in listed_rows[1]


def test_a_big_list_numbers_only_its_first_pages_and_says_how_to_reach_the_others(admin_client, rows, monkeypatch):
    """A page is read with OFFSET, which walks every row before it: page 49,999 of 5,000,000
    operations took 17.6 s, and the list linked to it as its last page."""
    from provisioning.admin import paging

    monkeypatch.setattr(paging, "MAX_PAGES", 2)
    monkeypatch.setattr(operations_admin.OperationAdmin, "list_per_page", 1)
    for _ in range(2):  # four operations: four pages of one
        Operation.objects.create(kind=OperationKind.SYNC, status=OperationStatus.SUCCEEDED, account=rows["active"],
                                 connection=rows["active"].connection, requested_by="admin:x")
    url = reverse("admin:provisioning_operation_changelist")

    first = admin_client.get(url).content.decode()
    assert "Only the first 2 pages are numbered" in first and "sort it the other way" in first
    assert "?p=2" in first and "?p=3" not in first and "?p=4" not in first

    deep = admin_client.get(url + "?p=4")  # a link from before, or typed: the last numbered page
    assert deep.status_code == 200
    assert deep.context["cl"].page_num == 2 and len(deep.context["cl"].result_list) == 1

    paging_sentence = admin_client.get(url + "?status__exact=failed").content.decode()
    assert "pages are numbered" not in paging_sentence  # one page: nothing to say


@pytest.mark.parametrize("model, column, field", [("account", "status_badge", "status"), ("operation", "kind", "kind")])
def test_a_big_list_sorts_by_no_column_it_does_not_offer_even_from_a_url(admin_client, rows, model, column, field):
    """Its headers offer only indexed columns (``sortable_by``); ``?o=N`` named any column, and
    sorted a million accounts by status in 357 ms, five million operations by kind in 566 ms."""
    from django.contrib.admin.sites import site

    admin = site._registry[Account if model == "account" else Operation]
    index = ["action_checkbox", *admin.list_display].index(column)
    response = admin_client.get(reverse(f"admin:provisioning_{model}_changelist") + f"?o={index}")

    assert response.status_code == 200
    ordering = response.context["cl"].queryset.query.order_by
    assert not any(part.lstrip("-") == field for part in ordering)


def test_an_operation_page_shows_its_first_exchanges(admin_client, rows, monkeypatch):
    monkeypatch.setattr(operations_admin, "CALLS_SHOWN", 3)
    operation = rows["fine"]
    for i in range(4):
        ExternalCall.objects.create(operation=operation, connection=operation.connection, method="GET", url=f"http://s.test/{i}")
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk]))
    assert page.status_code == 200
    shown = page.content.decode()
    assert "http://s.test/u" in shown and "http://s.test/1" in shown and "http://s.test/2" not in shown


@pytest.mark.parametrize("model", ["account", "member", "operation"])  # the big lists with actions
def test_a_big_lists_row_checkbox_is_djangos_own_html(admin_client, rows, model):
    """Written directly rather than through the form widget's templates (a fifth of a page's time),
    it must stay what Django renders, for the actions and their "select all" to work."""
    from django.contrib.admin import ModelAdmin

    response = admin_client.get(reverse(f"admin:provisioning_{model}_changelist"))
    objects = list(response.context["cl"].result_list)
    model_admin = response.context["cl"].model_admin
    assert objects
    for obj in objects:
        assert ModelAdmin.action_checkbox(model_admin, obj) in response.content.decode()


# webhook deliveries: one per event and endpoint subscribed to it, as many as operations and more
@pytest.mark.parametrize("model", ["account", "batch", "externalcall", "member", "operation", "webhookdelivery",
                                   "inboundwebhook"])
def test_a_big_list_offers_no_counts_beside_its_filters(admin_client, rows, model):
    """Django's "Show counts" counts every row each filter choice matches: minutes on millions of
    operations. The big lists do not offer it, and ignore it when asked."""
    url = reverse(f"admin:provisioning_{model}_changelist")

    assert "Show counts" not in admin_client.get(url).content.decode()
    response = admin_client.get(url + "?_facets=True")
    assert response.status_code == 200
    assert not response.context["cl"].add_facets
    assert "Hide counts" not in response.content.decode()


@pytest.mark.parametrize("model, query", [("account", "status__exact=active"), ("member", "q=ann"),
                                          ("operation", "kind=sync"), ("externalcall", "")])
def test_a_big_lists_row_links_are_djangos_own(admin_client, rows, model, query):
    """Each row's link to its page keeps the list's filters, as Django writes it (without resolving
    it per row): back on the list, the same rows are shown."""
    from django.contrib.admin.templatetags.admin_urls import add_preserved_filters

    response = admin_client.get(reverse(f"admin:provisioning_{model}_changelist") + "?" + query)
    cl = response.context["cl"]
    preserved = cl.model_admin.get_preserved_filters(response.wsgi_request)
    assert bool(preserved) == bool(query)
    assert cl.result_list
    for obj in cl.result_list:
        page = reverse(f"admin:provisioning_{model}_change", args=[obj.pk])
        link = add_preserved_filters({"preserved_filters": preserved, "opts": cl.opts}, page)
        assert f'href="{escape(link)}"' in response.content.decode()


@pytest.mark.parametrize("model", ["account", "operation", "externalcall", "member"])
def test_a_big_list_reads_no_secret(admin_client, rows, model, monkeypatch):
    """No list shows a secret: the rows' encrypted fields (and their connections') are not read,
    so not decrypted, neither row after row nor to name the connections in the list's filter."""
    from provisioning import crypto

    Account.objects.filter(pk=rows["active"].pk).update(secrets={"user_secret": "s3cr3t"})
    Connection.objects.update(credentials={"api_key": "k"})
    Operation.objects.filter(pk=rows["fine"].pk).update(secret_input={"code": "123456"})
    decrypted = []
    decrypt = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda value: decrypted.append(decrypt(value)) or decrypted[-1])

    response = admin_client.get(reverse(f"admin:provisioning_{model}_changelist"))

    assert response.context["cl"].result_list
    named = [spec for spec in response.context["cl"].filter_specs if spec.title == "connection"]
    assert named or model == "member"  # the members' list filters on a provider, not a connection
    for spec in named:
        assert sorted(spec.lookup_choices) == sorted(Connection.objects.values_list("pk", "name"))
    assert decrypted == []


def test_an_action_on_more_operations_than_the_bound_does_nothing_and_says_why(admin_client, rows, monkeypatch):
    """Retrying, cancelling or confirming goes through the services one operation at a time:
    "select all" on millions of them would hold the web server for hours."""
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.contrib.messages import get_messages

    from provisioning.admin import common

    monkeypatch.setattr(common, "ACTION_MAX_ROWS", 1)
    url = reverse("admin:provisioning_operation_changelist")
    chosen = [rows["failing"].pk, rows["fine"].pk]

    response = admin_client.post(url, {"action": "retry_operations", ACTION_CHECKBOX_NAME: chosen, "select_across": "1"})

    (said,) = [str(message) for message in get_messages(response.wsgi_request)]
    assert "Retry: more than 1 operations are selected, the most an action takes at once" in said
    assert Operation.objects.count() == 2
    assert Operation.objects.get(pk=rows["failing"].pk).status == OperationStatus.FAILED


@pytest.mark.parametrize("model, narrowing", [("account", "status__exact=active"), ("member", "q=ann"),
                                              ("operation", "kind=sync"), ("externalcall", "q={fine}")])
def test_a_big_list_offers_to_show_all_only_when_a_search_or_filter_narrows_it(admin_client, rows, model, narrowing):
    """The whole table is not counted, so Django's search bar would say "2 results (Show all)" on
    the whole list too, a link to the same list."""
    url = reverse(f"admin:provisioning_{model}_changelist")
    assert "Show all" not in admin_client.get(url).content.decode()
    narrowed = admin_client.get(url + "?" + narrowing.format(fine=rows["fine"].pk)).content.decode()
    assert re.search(r'1 result \(<a href="\?">Show all</a>\)', narrowed)


@pytest.mark.parametrize("model, query, words", [
    ("account", "status__exact=failed", ["Needs a captcha answer", "Waiting for the SMS code", "Failed"]),
    ("operation", "status__exact=failed", ["Waiting to retry", "Done", "Held"]),
    ("member", "account_status=failed", ["No account", "Needs a captcha answer", "Waiting for the email validation"]),
])
def test_status_filters_use_the_words_of_the_badges(admin_client, rows, model, query, words):
    """A filter that said "Awaiting Captcha" beside a column that says "Needs a captcha answer"
    made staff match two names for one state. The URL stays Django's own."""
    url = reverse(f"admin:provisioning_{model}_changelist")
    html = admin_client.get(url).content.decode()
    assert all(f">{said}</a>" in html for said in words)
    assert "Awaiting Captcha" not in html
    expected = {"account": ["failed"], "operation": ["failing"], "member": ["bob"]}[model]
    assert listed(admin_client, model, query) == sorted(rows[name].pk for name in expected)


def test_the_connections_health_filter_uses_the_words_of_the_badges(admin_client, rows):
    html = admin_client.get(reverse("admin:provisioning_connection_changelist")).content.decode()
    assert all(f">{said}</a>" in html for said in ("Healthy", "Degraded", "Failing", "Not checked yet"))
    found = admin_client.get(reverse("admin:provisioning_connection_changelist") + "?health_status__exact=unknown")
    assert {c.name for c in found.context["cl"].result_list} == {"Everything sandbox", "Other"}


def test_the_operations_of_an_error_are_found_in_order_from_an_index(rf, admin_user, rows):
    """Few operations carry a given error, often none: filtering 5,000,000 operations by a code
    none carried read the whole table (305-454 ms). An index of the operations that carry an
    error serves the filter, in the list's order."""
    from django.contrib.admin.sites import site

    from tests.conftest import plan_without_table_scans

    request = rf.get("/", {"error_code": "quota_exceeded"})
    request.user = admin_user
    changelist = site._registry[Operation].get_changelist_instance(request)

    plan = plan_without_table_scans(changelist.get_queryset(request).order_by("-created_at", "-id").values("pk"))
    assert "operation_error_code_idx" in plan and "Seq Scan" not in plan and "Sort" not in plan


@pytest.mark.parametrize("model", ["account", "operation", "externalcall", "member"])
def test_a_provider_filter_names_its_connections_not_a_join(admin_client, rows, model):
    """Given "the rows whose connection's provider is X", PostgreSQL guesses how many match, and
    walked all 2,000,000 calls newest first to fill the page of a provider that had none
    (705-932 ms). Given the ids of X's connections, it knows from each id's statistics."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db) as queries:
        found = listed(admin_client, model, "provider=kandy")

    assert found  # the rows of the failed Kandy account, whichever the model
    table = f'"provisioning_{model}"'
    listing = [q["sql"] for q in queries if q["sql"].startswith(f"SELECT {table}.")]
    assert listing and all('"provisioning_connection"."provider" =' not in sql for sql in listing)
    assert all(f'"connection_id" IN ({rows["failed"].connection_id}' in sql for sql in listing)


def test_the_operations_error_filter_reads_as_words(admin_client, rows):
    # it listed the codes: "captcha failed", "unknown outcome", "worker lost"
    for code in ("captcha_failed", "account_exists", "already_exists", "member_incomplete"):
        Operation.objects.create(kind=OperationKind.PROVISION, status=OperationStatus.FAILED, account=rows["failed"],
                                 connection=rows["failed"].connection, requested_by="admin:x", error_code=code)
    html = admin_client.get(reverse("admin:provisioning_operation_changelist")).content.decode()
    assert ">The captcha answer was wrong</a>" in html
    assert ">The provider&#x27;s quota of users is full</a>" in html
    # two codes a person reads alike keep their code apart
    assert ">The provider already has this user (account exists)</a>" in html
    assert ">The provider already has this user (already exists)</a>" in html
    assert ">captcha failed</a>" not in html
    # "the provider" inside a sentence: it read "The member lacks what The provider needs"
    assert ">The member lacks what the provider needs, so nothing was sent</a>" in html
    assert "of The provider" not in html and "what The provider" not in html


@pytest.mark.parametrize("model, term, index", [
    ("webhookdelivery", "evt_0123456789abcdef0123456789abcdef", "event_id"),
    ("inboundwebhook", "whk_01HZX4", "inbound_webhook_id_idx"),
])
def test_a_webhook_is_found_by_its_id_from_an_index(rf, admin_user, model, term, index):
    """Both lists grow by the million in the 90 days they are kept. Django's exact search ("=")
    compares UPPER(id), which no index serves, so finding one webhook read every row; an id is
    compared as it is, from an index."""
    from django.apps import apps
    from django.contrib.admin.sites import site

    from tests.conftest import plan_without_table_scans

    request = rf.get("/", {"q": term})
    request.user = admin_user
    changelist = site._registry[apps.get_model("provisioning", model)].get_changelist_instance(request)

    plan = plan_without_table_scans(changelist.get_queryset(request).order_by())
    assert index in plan and "Seq Scan" not in plan and "upper" not in plan.lower()
