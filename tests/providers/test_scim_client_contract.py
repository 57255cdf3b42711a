"""The SCIM client against golden RFC 7643/7644 bodies (HTTP faked with ``responses``).

Authentication (bearer token or basic auth, added at the last moment and never recorded), the
media type, the User body, list answers and paging, and the mapping of SCIM error bodies onto
the taxonomy.
"""

import base64
import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from provisioning.models import Connection, Member
from provisioning.providers.exceptions import (
    AlreadyExists,
    ConfigurationError,
    InvalidInput,
    NeedsAttention,
    NotFound,
    RateLimited,
    Rejected,
    TransientError,
    UnknownOutcome,
)
from provisioning.providers.inputs import InputErrors
from provisioning.providers.scim import FilterRefused, ScimClient, ScimProvider

BASE = "https://idm.example.com/scim/v2"
TOKEN = "scim-bearer-0123456789abcdef"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"


def golden_user(n=1, *, external_id="portal-abc-m1-c1", user_name="jane@example.org", active=True):
    """A 201/200 User as RFC 7643 §8.2 shows one."""
    uid = f"2819c223-7f76-453a-919d-41364258{n:04d}"
    return {
        "schemas": [USER_SCHEMA],
        "id": uid,
        "externalId": external_id,
        "meta": {
            "resourceType": "User",
            "created": "2026-01-23T04:56:22Z",
            "lastModified": "2026-05-13T04:42:34Z",
            "version": 'W/"a330bc54f0671c9"',
            "location": f"{BASE}/Users/{uid}",
        },
        "userName": user_name,
        "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "+6591234567", "type": "mobile"}],
        "active": active,
    }


def golden_list(users, *, total=None, start=1):
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(users) if total is None else total,
        "startIndex": start,
        "itemsPerPage": len(users),
        "Resources": users,
    }


def golden_error(status, detail, scim_type=None):
    body = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


@pytest.fixture
def http(strict_http):
    return strict_http


def make_client(log, **credentials):
    connection = Connection(provider="scim", name="scim", base_url=BASE,
                            credentials=credentials or {"bearer_token": TOKEN})
    return ScimClient(connection, log)


@pytest.fixture
def client(log):
    return make_client(log)


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def new_user():
    member = Member(email="jane@example.org", first_name="Jane", last_name="Doe", phone="+6591234567")
    return ScimProvider._user_for(member, "portal-abc-m1-c1")


# --- requests --------------------------------------------------------------------------------------

def test_create_posts_a_scim_user_with_the_bearer_token(http, client, log):
    http.post(f"{BASE}/Users", json=golden_user(), status=201, content_type=SCIM_JSON)

    created = client.create_user(new_user())

    request = http.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == SCIM_JSON
    assert request.headers["Accept"] == SCIM_JSON
    assert json.loads(request.body) == {
        "schemas": [USER_SCHEMA],
        "externalId": "portal-abc-m1-c1",
        "userName": "jane@example.org",
        "name": {"familyName": "Doe", "givenName": "Jane"},
        "displayName": "Jane Doe",
        "active": True,
        "emails": [{"value": "jane@example.org", "primary": True}],
        "phoneNumbers": [{"value": "+6591234567", "type": "mobile"}],
    }
    assert created.id == golden_user()["id"] and created.last_modified.year == 2026
    # the token never reaches the records
    assert log.calls[0].request_headers["Authorization"] == "***"
    assert TOKEN not in repr(log.calls)


def test_basic_authentication_when_configured_instead_of_a_token(http, log):
    http.get(f"{BASE}/Users", json=golden_list([]), content_type=SCIM_JSON)

    make_client(log, username="provisioner", password="s3cret-passw0rd").search("userName eq \"x\"")

    expected = "Basic " + base64.b64encode(b"provisioner:s3cret-passw0rd").decode()
    assert http.calls[0].request.headers["Authorization"] == expected
    assert "s3cret-passw0rd" not in repr(log.calls) and "cHJvdmlzaW9uZXI6czNjcmV0" not in repr(log.calls)


def test_find_user_filters_by_external_id_with_a_quoted_literal(http, client):
    http.get(f"{BASE}/Users", json=golden_list([golden_user(external_id='portal-"quoted"')]),
             content_type="application/json")

    found = client.find_user("externalId", 'portal-"quoted"')

    assert query(http.calls[0]) == {"filter": 'externalId eq "portal-\\"quoted\\""', "startIndex": "1", "count": "100"}
    assert "filter=externalId%20eq%20%22portal-%5C%22quoted%5C%22%22&" in http.calls[0].request.url  # %20, not +
    assert found.external_id == 'portal-"quoted"'  # application/json is accepted too (RFC 7644 §8.1)


def test_find_user_none_and_several(http, client):
    http.get(f"{BASE}/Users", json=golden_list([]), content_type=SCIM_JSON)
    assert client.find_user("externalId", "portal-abc-m1-c1") is None

    http.replace(responses.GET, f"{BASE}/Users", json=golden_list([golden_user(1), golden_user(2)]),
                 content_type=SCIM_JSON)
    with pytest.raises(NeedsAttention, match="2 users with externalId"):
        client.find_user("externalId", "portal-abc-m1-c1")


def test_deactivate_is_a_patch_op_on_active(http, client):
    uid = golden_user()["id"]
    http.patch(f"{BASE}/Users/{uid}", status=204)

    client.set_active(uid, False)

    assert json.loads(http.calls[0].request.body) == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }


def test_all_users_follows_start_index_across_pages(http, client):
    pages = [
        golden_list([golden_user(1, external_id="a"), golden_user(2, external_id="b")], total=5, start=1),
        golden_list([golden_user(3, external_id="c"), golden_user(4, external_id="d")], total=5, start=3),
        golden_list([golden_user(5, external_id="e")], total=5, start=5),
    ]
    for page in pages:
        http.get(f"{BASE}/Users", json=page, content_type=SCIM_JSON)

    users = list(client.all_users(page_size=2))

    assert [u.external_id for u in users] == ["a", "b", "c", "d", "e"]
    assert [query(c)["startIndex"] for c in http.calls] == ["1", "3", "5"]
    assert {query(c)["count"] for c in http.calls} == {"2"}


def test_all_users_of_an_empty_application_is_one_call(http, client):
    http.get(f"{BASE}/Users", json=golden_list([]), content_type=SCIM_JSON)
    assert list(client.all_users()) == []
    assert len(http.calls) == 1


def test_all_users_stops_when_a_server_pages_nothing_before_the_total(http, client):
    http.get(f"{BASE}/Users", json=golden_list([golden_user(1)], total=3), content_type=SCIM_JSON)
    http.get(f"{BASE}/Users", json=golden_list([], total=3, start=2), content_type=SCIM_JSON)

    with pytest.raises(Rejected, match="listed 1 of the 3 users"):
        list(client.all_users())


# --- answers as applications shape them ------------------------------------------------------------

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_a_user_with_an_extension_and_attributes_of_its_own_is_read(http, client):
    user = golden_user()
    user["schemas"] = [ENTERPRISE, USER_SCHEMA]  # the extension first: order is not meaningful
    user[ENTERPRISE] = {"employeeNumber": "701984", "manager": {"value": "26118915-6090-4610-87e4"}}
    user["urn:example:vendor:1.0:User"] = {"seat": "pro"}
    user["x-tenant"] = 7
    user["password"] = "never-sent-back-but-some-do"
    user["id"] = 42  # a number, not the string RFC 7643 asks for
    http.get(f"{BASE}/Users", json=golden_list([user]), content_type=SCIM_JSON)

    found = client.find_user("externalId", "portal-abc-m1-c1")

    assert (found.id, found.external_id, found.user_name, found.active) == (
        "42", "portal-abc-m1-c1", "jane@example.org", True)


def test_attribute_names_are_read_whatever_their_case(http, client):
    http.get(f"{BASE}/Users/u1", content_type=SCIM_JSON, json={
        "schemas": [USER_SCHEMA], "ID": "u1", "externalid": "portal-abc-m1-c1", "USERNAME": "jane@example.org",
        "Active": "false", "Meta": {"LastModified": "2026-05-13T04:42:34Z"},
    })

    user = client.get_user("u1")

    assert (user.id, user.external_id, user.user_name, user.active) == ("u1", "portal-abc-m1-c1", "jane@example.org", False)
    assert user.last_modified.isoformat() == "2026-05-13T04:42:34+00:00"


@pytest.mark.parametrize("status", [200, 201])
def test_a_create_answered_with_any_success_status_is_read(http, client, status):
    http.post(f"{BASE}/Users", json=golden_user(), status=status, content_type=SCIM_JSON)

    assert client.create_user(new_user()).id == golden_user()["id"]


def test_a_create_answered_without_the_user_is_an_unknown_outcome(http, client):
    http.post(f"{BASE}/Users", status=201, body="")

    with pytest.raises(UnknownOutcome, match="empty body. The request may have been carried out"):
        client.create_user(new_user())


@pytest.mark.parametrize(("status", "body"), [(204, ""), (200, ""), (200, "{}"), (202, "")])
def test_a_delete_answered_with_any_success_status_is_done(http, client, status, body):
    http.delete(f"{BASE}/Users/u1", status=status, body=body, content_type=SCIM_JSON)

    client.delete_user("u1")  # no error


def test_a_deactivation_answered_200_with_the_user_is_done(http, client):
    http.patch(f"{BASE}/Users/u1", status=200, json={**golden_user(active=False), "x-tenant": 7},
               content_type=SCIM_JSON)

    client.set_active("u1", False)  # no error


def test_find_user_keeps_only_the_users_that_match_when_the_filter_was_ignored(http, client):
    others = [golden_user(1, external_id="someone-else", user_name="bob@example.org"), golden_user(2)]
    http.get(f"{BASE}/Users", json=golden_list(others), content_type=SCIM_JSON)
    http.get(f"{BASE}/Users", json=golden_list(others[:1]), content_type=SCIM_JSON)

    assert client.find_user("externalId", "portal-abc-m1-c1").id == golden_user(2)["id"]
    assert client.find_user("userName", "JANE@example.org") is None  # only bob came back


def test_find_user_by_user_name_ignores_case(http, client):
    http.get(f"{BASE}/Users", json=golden_list([golden_user(user_name="Jane@Example.org")]), content_type=SCIM_JSON)

    assert client.find_user("userName", "jane@example.org").user_name == "Jane@Example.org"


def test_all_users_without_a_total_stops_at_a_short_page(http, client):
    first, last = ([golden_user(n, external_id=f"e{n}") for n in ns] for ns in ((1, 2), (3,)))
    http.get(f"{BASE}/Users", json={"schemas": [LIST_SCHEMA], "Resources": first}, content_type=SCIM_JSON)
    http.get(f"{BASE}/Users", json={"schemas": [LIST_SCHEMA], "Resources": last}, content_type=SCIM_JSON)

    assert [u.external_id for u in client.all_users(page_size=2)] == ["e1", "e2", "e3"]


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("/Users/u1", {"schemas": [USER_SCHEMA], "userName": "jane@example.org"}, "a user without an id"),
    ("/Users/u1", ["not", "an", "object"], "a user that is not a JSON object"),
])
def test_a_user_without_an_id_is_not_scim(http, client, path, body, reason):
    http.get(f"{BASE}{path}", json=body, content_type=SCIM_JSON)

    with pytest.raises(ConfigurationError, match=f"not valid SCIM \\({reason}.*base URL"):
        client.get_user("u1")


def test_a_create_whose_answer_never_came_is_an_unknown_outcome(http, client):
    http.post(f"{BASE}/Users", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(UnknownOutcome):
        client.create_user(new_user())


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "words"),
    [
        (409, golden_error(409, "One or more of the attribute values are already in use or are reserved",
                           "uniqueness"), {}, AlreadyExists, "409 (uniqueness)"),
        (401, golden_error(401, "Authorization failure. The authorization header is invalid or missing"),
         {"WWW-Authenticate": 'Bearer realm="SCIM"'}, ConfigurationError, "bearer token"),
        (403, golden_error(403, "Operation is not permitted based on the supplied authorization"), {},
         ConfigurationError, "rights"),
        (404, golden_error(404, "Resource 2819c223 not found"), {}, NotFound, "not found"),
        (429, golden_error(429, "Too many requests"), {"Retry-After": "30"}, RateLimited, "429"),
        (503, golden_error(503, "Service unavailable"), {"Retry-After": "120"}, TransientError, "503"),
        (500, "<html>Internal Server Error</html>", {}, TransientError, "HTTP 500"),
        (400, golden_error(400, "The specified filter syntax was invalid", "invalidFilter"), {}, FilterRefused,
         "invalidFilter"),
        (400, golden_error(400, "Attribute 'userName' is required", "invalidValue"), {}, InvalidInput,
         "invalidValue"),
        (400, golden_error(400, "Attribute 'id' is readOnly", "mutability"), {}, InvalidInput, "mutability"),
        (400, golden_error(400, "The specified filter yields many more results than the server is willing to "
                                "calculate or process", "tooMany"), {}, Rejected, "page by page"),
        (400, golden_error(400, "Version 1.1 not supported", "invalidVers"), {}, ConfigurationError, "SCIM 2.0"),
        (412, golden_error(412, "Failed to update. Resource changed on the server."), {}, TransientError,
         "reads it again"),
        (413, golden_error(413, "The size of the bulk operation exceeds the maxPayloadSize"), {}, Rejected,
         "larger"),
    ],
)
def test_scim_errors_map_onto_the_taxonomy(http, client, log, status, body, headers, error, words):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    http.get(f"{BASE}/Users/2819c223", status=status, headers=headers, content_type=SCIM_JSON, **kwargs)

    with pytest.raises(error) as raised:
        client.get_user("2819c223")

    assert type(raised.value) is error
    assert words in raised.value.message
    assert raised.value.status_code == status
    if status in (429, 503):
        assert raised.value.retry_after == float(headers["Retry-After"])
    assert log.calls[0].error.startswith(raised.value.code)
    assert TOKEN not in repr(log.calls)


@pytest.mark.parametrize(("offset", "low", "high"), [(120, 110, 120), (-60, 0, 0)])
def test_a_retry_after_given_as_an_http_date_is_counted_from_now(http, client, offset, low, high):
    when = datetime.now(dt_timezone.utc) + timedelta(seconds=offset)
    http.get(f"{BASE}/Users/u1", status=429, content_type=SCIM_JSON, json=golden_error(429, "Too many requests"),
             headers={"Retry-After": format_datetime(when, usegmt=True)})

    with pytest.raises(RateLimited) as raised:
        client.get_user("u1")

    assert low <= raised.value.retry_after <= high


def test_an_invalid_value_names_the_member_field_it_is_about(http, client):
    http.post(f"{BASE}/Users", status=400, content_type=SCIM_JSON,
              json=golden_error(400, "phoneNumbers.value must be in E.164 form", "invalidValue"))

    with pytest.raises(InvalidInput) as raised:
        client.create_user(new_user())

    assert raised.value.field_errors == {"phone": ["phoneNumbers.value must be in E.164 form"]}


def test_json_that_is_not_scim_points_at_the_base_url(http, client):
    http.get(f"{BASE}/ServiceProviderConfig", json={"welcome": "to our app"})

    with pytest.raises(ConfigurationError, match="not valid SCIM.*base URL"):
        client.service_provider_config()


def test_an_html_page_is_a_broken_answer_like_at_every_provider(http, client):
    http.get(f"{BASE}/ServiceProviderConfig", body="<html>Welcome to our app</html>", content_type="text/html")

    with pytest.raises(TransientError, match="not JSON"):
        client.service_provider_config()


def test_a_redirect_is_a_configuration_error(http, client):
    http.get(f"{BASE}/Users/x", status=302, headers={"Location": "https://idm.example.com/login"})
    with pytest.raises(ConfigurationError, match="redirect.*login"):
        client.get_user("x")


# --- credentials -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("credentials", "errors"),
    [
        ({"bearer_token": "t"}, {}),
        ({"username": "u", "password": "p"}, {}),
        ({}, {"bearer_token": ["Give a bearer token, or a username and password (basic authentication)."]}),
        ({"bearer_token": "t", "username": "u", "password": "p"},
         {"bearer_token": ["Give a bearer token or a username and password (basic authentication), not both."]}),
        ({"username": "u"}, {"password": ["A username needs a password."]}),
        ({"password": "p"}, {"username": ["A password needs a username."]}),
        ({"bearer_token": "t", "api_key": "k"}, {"api_key": ["Unknown field (this takes: bearer_token, username, password)."]}),
    ],
)
def test_exactly_one_way_to_authenticate(credentials, errors):
    try:
        assert ScimProvider.clean_credentials(credentials) == credentials
        found = {}
    except InputErrors as exc:
        found = exc.errors
    assert found == errors
