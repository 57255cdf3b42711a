"""Conventions every endpoint shares: pagination, error shapes, throttling, schema and docs."""

import json
import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import IntegrityError

from provisioning import services
from provisioning.api.exceptions import exception_handler
from provisioning.models import Member


def test_lists_are_paginated_newest_first(admin_client_api, db):
    created = [Member.objects.create(email=f"p{i}@example.org") for i in range(5)]
    first = admin_client_api.get("/api/v1/members/?page_size=2").json()
    assert first["count"] == 5
    assert [m["id"] for m in first["results"]] == [created[4].pk, created[3].pk]
    assert first["previous"] is None
    second = admin_client_api.get(first["next"]).json()
    assert [m["id"] for m in second["results"]] == [created[2].pk, created[1].pk]
    assert second["previous"]


@pytest.mark.parametrize("query", ["page_size=0", "page_size=201", "page_size=abc", "page=0", "page=-1", "page=abc"])
def test_a_bad_page_size_is_400(admin_client_api, db, query):
    response = admin_client_api.get(f"/api/v1/members/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()  # page 0 was a 404 "Invalid page." as if past the end


def test_a_page_past_the_end_is_404_saying_how_many_there_are(admin_client_api, db):
    response = admin_client_api.get("/api/v1/members/?page=9")
    assert response.status_code == 404
    assert response.json() == {"detail": "There is no page 9 of this list: it has 1 page.", "code": "not_found"}
    Member.objects.bulk_create(Member(email=f"m{i}@example.org") for i in range(3))
    response = admin_client_api.get("/api/v1/members/?page=3&page_size=2")
    assert response.json()["detail"] == "There is no page 3 of this list: it has 2 pages."
    assert admin_client_api.get("/api/v1/members/?page=2&page_size=2").status_code == 200


def test_method_not_allowed_has_detail_and_code(admin_client_api, db):
    response = admin_client_api.put("/api/v1/members/1/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_throttled_requests_get_429_with_retry_after(admin_client_api, db, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "api": "2/minute"}}
    codes = [admin_client_api.get("/api/v1/members/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = admin_client_api.get("/api/v1/members/")
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_schema_describes_every_resource(admin_client, db):
    client = admin_client
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/connections/", "/api/v1/connections/{id}/check/", "/api/v1/members/{id}/",
        "/api/v1/accounts/{id}/captcha/", "/api/v1/accounts/{id}/captcha/refresh/",
        "/api/v1/accounts/{id}/credentials/", "/api/v1/operations/{id}/retry/", "/api/v1/batches/{id}/",
    ):
        assert path in paths
    verify = paths["/api/v1/accounts/{id}/verify/"]["post"]
    assert set(verify["responses"]) == {"200", "202", "400", "401", "403", "404", "409", "422", "429"}
    assert {p["name"] for p in verify["parameters"]} >= {"Idempotency-Key", "wait", "id"}
    assert "Location" in verify["responses"]["202"]["headers"]
    assert "credentials" not in schema["components"]["schemas"]["Connection"]["properties"]
    assert "credentials" in schema["components"]["schemas"]["ConnectionRequest"]["properties"]


def test_the_schema_speaks_to_consumers_not_of_the_code(admin_client, db):
    """Its descriptions are what a consumer reads: "selectors.accounts_kept" or
    "services.operation_request" name nothing they can look up."""
    text = admin_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content.decode()
    assert re.findall(r"\b(?:selectors|services|explain|models|providers|states)\.[a-z_]+", text) == []


def test_docs_work_offline(admin_client, db):
    client = admin_client
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    external = [url for url in re.findall(r'(?:src|href)="([^"]+)"', html) if url.startswith(("http:", "https:", "//"))]
    assert external == []
    script = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', html).group(1)
    assert script.startswith(settings.STATIC_URL) or script.startswith("/" + settings.STATIC_URL)
    assert finders.find(script.split(settings.STATIC_URL, 1)[1])  # shipped by the sidecar package


@pytest.mark.parametrize(
    "exc, status, body",
    [
        (services.InvalidRequest("No such thing.", code="nothing"), 400, {"detail": "No such thing.", "code": "nothing"}),
        (
            services.InvalidRequest("Bad.", field_errors={"email": ["Taken."]}),
            400,
            {"email": ["Taken."]},
        ),
        (services.Conflict("Busy.", code="busy"), 409, {"detail": "Busy.", "code": "busy"}),
        (IntegrityError("duplicate key value violates unique constraint"), 409, {"code": "integrity"}),
    ],
)
def test_service_and_database_errors_map_onto_the_error_shape(exc, status, body):
    response = exception_handler(exc, {})
    assert response.status_code == status
    assert body.items() <= response.data.items()
    assert "unique constraint" not in str(response.data)


@pytest.mark.parametrize("body", [[], "a string", 42])
def test_a_body_that_is_not_an_object_is_a_400_with_detail_and_code(admin_client_api, db, body):
    response = admin_client_api.post("/api/v1/members/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"detail", "code"}, response.json()


@pytest.mark.parametrize("debug", [False, True])  # make run has DEBUG on: Django's debug page otherwise
@pytest.mark.parametrize("path", ["/api/v1/nothing-here/", "/api/v1/members/1/reset_password/", "/api/v2/",
                                  "/api/v1/nothing-here"])
def test_a_path_nothing_serves_under_the_api_is_a_json_404(admin_client_api, db, settings, path, debug):
    settings.DEBUG = debug
    response = admin_client_api.post(path, {}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"
    assert response.json()["detail"].startswith(f"Nothing is at {path}.")


def test_a_404_says_what_is_there_instead(admin_client_api, db):
    # it said "Not found.", to a client guessing how to deprovision
    response = admin_client_api.post("/api/v1/accounts/5/deprovision/", {}, format="json")
    assert response.status_code == 404 and response.json() == {"code": "not_found", "detail": (
        "Nothing is at /api/v1/accounts/5/deprovision/. At /api/v1/accounts/5/: GET, DELETE; GET captcha/, POST "
        "captcha/, POST captcha/refresh/, GET credentials/, POST login-link/, POST provision/, POST record-closed/, "
        "POST reset-password/, POST rotate-secret/, POST sync/, POST validate/, POST verify/. Every path and what it "
        "does: /api/docs/.")}
    assert "POST deliveries/{delivery}/redeliver/" in admin_client_api.get("/api/v1/webhooks/1/nope/").json()["detail"]
    assert admin_client_api.get("/api/v1/acounts/").json()["detail"] == (
        "Nothing is at /api/v1/acounts/. The API's resources: /api/v1/connections/, /api/v1/members/, "
        "/api/v1/accounts/, /api/v1/operations/, /api/v1/batches/, /api/v1/providers/, /api/v1/webhooks/. "
        "Every path and what it does: /api/docs/.")
    # an object that is not there is the view's own 404, as before
    assert admin_client_api.get("/api/v1/accounts/999/").json() == {"detail": "Not found.", "code": "not_found"}


def test_an_unexpected_error_under_the_api_answers_json(rf):
    from provisioning.views import server_error

    response = server_error(rf.get("/api/v1/members/"))
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert json.loads(response.content)["code"] == "server_error"
    assert server_error(rf.get("/admin/"))["Content-Type"].startswith("text/html")


def test_a_real_bug_is_left_to_be_a_500():
    assert exception_handler(RuntimeError("bug"), {}) is None


def test_an_unknown_id_is_named_with_what_to_give_instead(admin_client_api, member, connection):
    # DRF said 'Invalid pk "99999" - object does not exist.'
    account = admin_client_api.post("/api/v1/accounts/", {"member": 99999, "connection": connection.pk}, format="json")
    assert account.status_code == 400
    assert account.json()["member"] == ["No member has the id 99999: give the id of an existing member."]
    batch = admin_client_api.post("/api/v1/batches/", {"connection": connection.pk, "members": [member.pk, 99998]}, format="json")
    assert batch.status_code == 400
    assert batch.json()["members"] == ["No member has the id 99998: give the id of an existing member."]


def test_the_schema_has_the_version_the_readme_describes(admin_client, db):
    """A consumer reads the contract's version in the schema: it is the newest one the README's
    "Changes to the API contract" names (v1.2 paged accounts and operations by cursor)."""
    readme = (settings.BASE_DIR / "README.md").read_text()
    changes = readme.split("### Changes to the API contract", 1)[1].split("\n## ", 1)[0]
    newest = max(tuple(map(int, found)) for found in re.findall(r"\bv(\d+)\.(\d+)\b", changes))
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert tuple(map(int, schema["info"]["version"].split(".")[:2])) == newest


def test_the_browsable_api_is_the_portals_and_its_root_says_where_the_documentation_is(admin_client_api):
    # it read "Django REST framework" (a link to DRF's website) and "Api Root: The default basic
    # root view for DefaultRouter"
    page = admin_client_api.get("/api/v1/", HTTP_ACCEPT="text/html").content.decode()
    assert "Provisioning portal API, version 1" in page and "/api/docs/" in page
    assert "Django REST framework" not in page and "DefaultRouter" not in page
    listing = admin_client_api.get("/api/v1/members/", HTTP_ACCEPT="text/html").content.decode()
    assert "<title>Member List – Provisioning portal API</title>" in listing
    # the JSON is the same list of resources
    assert set(admin_client_api.get("/api/v1/").json()) == {
        "connections", "members", "accounts", "operations", "batches", "providers", "webhooks"}
