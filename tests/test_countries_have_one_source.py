"""A member's country comes from one list (django-countries), and the model, the admin member
form and the API accept and refuse exactly the same values, with the same message.

Only the upper-case alpha-2 code counts: django-countries itself would read "sg", "SGP" (alpha-3)
or "702" (numeric) as SG, so each of the three is checked against those too.
"""

import pytest
from django.core.exceptions import ValidationError
from django_countries import countries
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from provisioning.models import COUNTRY_MESSAGE, Member

ACCEPTED = ["SG", ""]
REFUSED = ["ZZ", "sg", "SGP", "702", "Singapore", " SG"]
MESSAGE = "Enter an ISO 3166-1 alpha-2 country code such as SG (upper case)."


def test_the_message_is_the_one_announced():
    assert COUNTRY_MESSAGE == MESSAGE


# --- the model ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ACCEPTED)
def test_the_model_accepts(value):
    member = Member(email="ann@example.org", country=value)
    member.full_clean(validate_unique=False)
    assert member.country.code == value


@pytest.mark.parametrize("value", [*REFUSED, None])
def test_the_model_refuses(value):
    member = Member(email="ann@example.org", country=value)
    with pytest.raises(ValidationError) as refused:
        member.full_clean(validate_unique=False)
    assert refused.value.message_dict == {"country": [MESSAGE]}


# --- the admin member form ---------------------------------------------------------------------

ADD_URL = "/admin/provisioning/member/add/"


def admin_add(client, country):
    return client.post(
        ADD_URL,
        {
            "email": "ann@example.org",
            "first_name": "Ann",
            "last_name": "Lee",
            "phone": "",
            "country": country,
            "external_ref": "",
            # the (read-only) accounts inline's management form
            "accounts-TOTAL_FORMS": "0",
            "accounts-INITIAL_FORMS": "0",
            "accounts-MIN_NUM_FORMS": "0",
            "accounts-MAX_NUM_FORMS": "0",
            "_save": "Save",
        },
    )


def test_the_admin_form_offers_the_list_and_says_the_formats(admin_client):
    response = admin_client.get(ADD_URL)
    assert response.status_code == 200
    form = response.context["adminform"].form
    offered = [code for code, _ in form.fields["country"].choices]
    assert offered == ["", *(code for code, _ in countries)]
    page = response.content.decode()
    assert '<select name="country"' in page
    assert '<option value="SG">Singapore</option>' in page
    assert form.fields["country"].help_text in page
    assert "ISO 3166-1 alpha-2" in form.fields["country"].help_text
    assert "upper case" in form.fields["country"].help_text
    assert "E.164, e.g. +6591234567" in form.fields["phone"].help_text
    assert form.fields["phone"].help_text in page


@pytest.mark.parametrize("value", ACCEPTED)
def test_the_admin_form_accepts(admin_client, value):
    response = admin_add(admin_client, value)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Member.objects.get().country.code == value


@pytest.mark.parametrize("value", REFUSED)
def test_the_admin_form_refuses(admin_client, value):
    response = admin_add(admin_client, value)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"country": [MESSAGE]}
    assert MESSAGE in response.content.decode()
    assert not Member.objects.exists()


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin_user).plain_key}")
    return client


@pytest.mark.parametrize("value", ACCEPTED)
def test_the_api_accepts(api, value):
    response = api.post("/api/v1/members/", {"email": "ann@example.org", "country": value}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["country"] == value  # the plain code string
    assert Member.objects.get().country.code == value
    assert api.get(f"/api/v1/members/{response.json()['id']}/").json()["country"] == value


@pytest.mark.parametrize("value", [*REFUSED, 12, 702, ["SG"], {"code": "SG"}], ids=repr)
def test_the_api_refuses(api, value):
    response = api.post("/api/v1/members/", {"email": "ann@example.org", "country": value}, format="json")
    assert response.status_code == 400
    assert response.json() == {"country": [MESSAGE]}
    assert not Member.objects.exists()


def test_the_api_refuses_null_as_before(api):
    response = api.post("/api/v1/members/", {"email": "ann@example.org", "country": None}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["country"]


def test_the_api_schema_is_the_enum_of_the_same_codes(admin_client, db):
    client = admin_client
    schema = client.get("/api/schema/?format=json").json()
    enums = schema["components"]["schemas"]
    country = schema["components"]["schemas"]["Member"]["properties"]["country"]
    refs = [option["$ref"].rsplit("/", 1)[1] for option in country["oneOf"]]
    assert [enums[name]["enum"] for name in refs] == [[code for code, _ in countries], [""]]


# --- all three ---------------------------------------------------------------------------------


def test_admin_and_api_give_the_same_message(admin_client, api):
    admin_errors = admin_add(admin_client, "sg").context["adminform"].form.errors["country"]
    api_errors = api.post("/api/v1/members/", {"email": "ann@example.org", "country": "sg"}, format="json").json()
    assert admin_errors == api_errors["country"] == [MESSAGE]
