"""The lists that grow without bound: cursor pages, and queries that do not grow with the rows."""

import base64

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from provisioning.models import Account, Batch, ExternalCall, Member, Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus


def add_rows(connection, n, start=0):
    """``n`` members, each with an account, a batch and a provisioning with two calls."""
    for i in range(start, start + n):
        member = Member.objects.create(email=f"s{i}@example.org")
        account = Account.objects.create(member=member, connection=connection, status=AccountStatus.ACTIVE)
        batch = Batch.objects.create(connection=connection, requested_by="api:x")
        operation = Operation.objects.create(
            kind=OperationKind.PROVISION, status=OperationStatus.FAILED if i % 2 else OperationStatus.SUCCEEDED,
            account=account, connection=connection, batch=batch, requested_by="api:x",
        )
        for _ in range(2):
            ExternalCall.objects.create(operation=operation, connection=connection, method="POST", url="http://x.test/u")


@pytest.mark.parametrize("resource", ["operations", "accounts"])
def test_cursor_pages_go_forward_and_back(admin_client_api, connection, resource):
    add_rows(connection, 5)
    first = admin_client_api.get(f"/api/v1/{resource}/?page_size=2").json()
    assert "count" not in first and first["previous"] is None and "cursor=" in first["next"]
    second = admin_client_api.get(first["next"]).json()
    third = admin_client_api.get(second["next"]).json()
    seen = [row["id"] for page in (first, second, third) for row in page["results"]]
    model = Operation if resource == "operations" else Account
    assert seen == list(model.objects.order_by("-id").values_list("pk", flat=True))
    assert third["next"] is None
    back = admin_client_api.get(second["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in first["results"]]


@pytest.mark.parametrize("resource", ["operations", "accounts"])
def test_following_next_reaches_every_row_of_a_big_batch_once(admin_client_api, connection, resource):
    # a batch's rows share their created_at; DRF's cursor steps over rows sharing its position by an
    # offset it caps at 1,000: ordered by created_at, page 6 came back for ever and the last rows never
    members = Member.objects.bulk_create(Member(email=f"b{i}@example.org") for i in range(1250))
    accounts = Account.objects.bulk_create(Account(member=m, connection=connection) for m in members)
    Operation.objects.bulk_create(
        Operation(kind=OperationKind.PROVISION, account=a, connection=connection, requested_by="api:x") for a in accounts
    )
    model = Operation if resource == "operations" else Account
    model.objects.update(created_at=model.objects.earliest("created_at").created_at)
    seen, url = [], f"/api/v1/{resource}/?page_size=200"
    while url and len(seen) <= 1250:
        page = admin_client_api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == list(model.objects.order_by("-id").values_list("pk", flat=True))


@pytest.mark.parametrize("cursor", [
    "not-a-cursor",
    base64.b64encode(b"p=abc").decode(),  # well formed, with a position that is no id
    base64.b64encode(b"p=99999999999999999999").decode(),  # beyond any id
    base64.b64encode(b"o=1&p=0").decode(),
])
@pytest.mark.parametrize("resource", ["operations", "accounts"])
def test_a_cursor_that_is_not_one_is_404(admin_client_api, connection, resource, cursor):
    response = admin_client_api.get(f"/api/v1/{resource}/", {"cursor": cursor})
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": (
        "This cursor is not one this list gave: start from the list's first page and follow its next links.")}


@pytest.mark.parametrize("resource", ["operations", "accounts"])
def test_a_page_number_beyond_the_first_says_to_follow_next(admin_client_api, connection, resource):
    assert admin_client_api.get(f"/api/v1/{resource}/", {"page": "1"}).status_code == 200
    response = admin_client_api.get(f"/api/v1/{resource}/", {"page": "2"})
    assert response.status_code == 400
    assert "follow its next link" in response.json()["page"][0]


def test_cursor_pages_keep_their_filter(admin_client_api, connection):
    add_rows(connection, 6)
    first = admin_client_api.get("/api/v1/operations/?status=failed&page_size=2").json()
    second = admin_client_api.get(first["next"]).json()
    assert {row["status"] for row in first["results"] + second["results"]} == {"failed"}
    assert len(first["results"] + second["results"]) == 3


def test_operations_still_count_their_calls(admin_client_api, connection):
    add_rows(connection, 1)
    Operation.objects.create(kind=OperationKind.SYNC, connection=connection, requested_by="api:x", status="succeeded")
    rows = admin_client_api.get("/api/v1/operations/").json()["results"]
    assert [row["calls"] for row in rows] == [0, 2]


def test_the_schema_documents_the_cursor(admin_client_api, db):
    schema = admin_client_api.get("/api/schema/?format=json").json()
    for path in ("/api/v1/operations/", "/api/v1/accounts/"):
        names = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert {"cursor", "page_size"} <= names and "page" not in names
    assert "page" in {p["name"] for p in schema["paths"]["/api/v1/members/"]["get"]["parameters"]}


LISTS = [
    "/api/v1/operations/",
    "/api/v1/operations/?status=failed",
    "/api/v1/accounts/?status=active",
    "/api/v1/connections/",
    "/api/v1/batches/",
    "/metrics",
]


@pytest.mark.parametrize("url", LISTS)
def test_queries_do_not_grow_with_the_rows(admin_client_api, connection, url):
    def queries():
        with CaptureQueriesContext(db_connection) as captured:
            assert admin_client_api.get(url).status_code == 200
        return len(captured)

    add_rows(connection, 3)
    queries()  # warm: the user, its permissions, the counts
    few = queries()
    add_rows(connection, 9, start=3)
    assert queries() == few


def test_the_accounts_of_a_provider_are_those_of_its_connections_ids(admin_client_api, connection):
    """``?provider=`` names the provider's connections by id (``selectors.of_provider``), not
    through a join PostgreSQL must guess the size of (the admin's lists share the rule)."""
    add_rows(connection, 2)
    with CaptureQueriesContext(db_connection) as queries:
        response = admin_client_api.get(f"/api/v1/accounts/?provider={connection.provider}")

    assert len(response.json()["results"]) == 2
    listing = [q["sql"] for q in queries if q["sql"].startswith('SELECT "provisioning_account".')]
    assert listing and all('"provisioning_connection"."provider" =' not in sql for sql in listing)
    assert all(f'"provisioning_account"."connection_id" IN ({connection.pk})' in sql for sql in listing)
