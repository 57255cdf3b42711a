"""The SCIM client against golden RFC 7643/7644 bodies (HTTP faked with ``responses``).

Authentication (bearer token or basic auth, added at the last moment and never recorded), the
media type, the User body, list answers and paging, and the mapping of SCIM error bodies onto
the taxonomy.
"""

import base64
import json
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
from provisioning.providers.scim import ScimClient, ScimProvider

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
    assert created.id == golden_user()["id"] and created.meta.last_modified.year == 2026
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
    http.get(f"{BASE}/Users", json=golden_list([golden_user()]), content_type="application/json")

    found = client.find_user("externalId", 'portal-"quoted"')

    assert query(http.calls[0]) == {"filter": 'externalId eq "portal-\\"quoted\\""', "startIndex": "1", "count": "100"}
    assert found.external_id == "portal-abc-m1-c1"  # application/json is accepted too (RFC 7644 §8.1)


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
        (400, golden_error(400, "The specified filter syntax was invalid", "invalidFilter"), {}, InvalidInput,
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
