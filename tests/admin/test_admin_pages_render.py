"""Every admin page a superuser can open renders (no 500), with real objects on it."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from provisioning import explain
from provisioning.models import Batch, Connection, ExternalCall, Member, Operation, SecretAccess
from provisioning.states import AccountStatus, OperationKind, OperationStatus

from .conftest import JPEG

MODELS = ["member", "connection", "account", "operation", "externalcall", "secretaccess", "batch"]
ADDABLE = {"member", "connection", "account"}


@pytest.fixture
def objects(make_account, connection, admin_user):
    account = make_account(
        AccountStatus.AWAITING_CAPTCHA,
        external_id="remote-1",
        details={"captcha_id": 17},
        secrets={"user_secret": "S3CRET"},
        challenge_image=JPEG,
        last_error={"code": "rejected", "message": "Turing test failed"},
        attention="Look at me",
    )
    batch = Batch.objects.create(connection=connection, requested_by="api:bot")
    operation = Operation.objects.create(
        kind=OperationKind.PROVISION,
        status=OperationStatus.FAILED,
        account=account,
        connection=connection,
        batch=batch,
        requested_by="admin:admin",
        result={"redirect_uri": "https://app.example/login?token=x"},
        error_code="rejected",
        error_message="No.",
        secret_input={"answer": "k4m2z"},
    )
    call = ExternalCall.objects.create(
        operation=operation,
        connection=connection,
        method="POST",
        url="http://sandbox.test/users?key=***",
        request_body='{"a": 1}',
        status_code=400,
        response_body='["ERROR", "No."]',
        duration_ms=12,
        provider_request_id="req-1",
    )
    access = SecretAccess.objects.create(account=account, user=admin_user, via="admin", keys=["user_secret"])
    return {
        "member": account.member,
        "connection": connection,
        "account": account,
        "operation": operation,
        "externalcall": call,
        "secretaccess": access,
        "batch": batch,
    }


class FormsInForms(HTMLParser):
    """Counts the ``<form>`` opened inside another: HTML ignores it, so its button submits the
    outer form (the batch's "Retry the failed ones" posted the page's own form: a 403)."""

    def __init__(self):
        super().__init__()
        self.depth = self.nested = 0

    def handle_starttag(self, tag, attrs):
        if tag == "form":
            self.nested += self.depth > 0
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "form":
            self.depth -= 1


def forms_in_forms(response) -> int:
    parser = FormsInForms()
    parser.feed(response.content.decode())
    return parser.nested


@pytest.mark.parametrize("model", MODELS)
def test_changelist_renders(admin_client, objects, model):
    response = admin_client.get(reverse(f"admin:provisioning_{model}_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert forms_in_forms(response) == 0


@pytest.mark.parametrize("model", MODELS)
def test_change_page_renders(admin_client, objects, model):
    response = admin_client.get(reverse(f"admin:provisioning_{model}_change", args=[objects[model].pk]))
    assert response.status_code == 200
    assert forms_in_forms(response) == 0


@pytest.mark.parametrize("model", MODELS)
def test_add_page_renders_or_is_refused_for_records(admin_client, db, model):
    response = admin_client.get(reverse(f"admin:provisioning_{model}_add"))
    assert response.status_code == (200 if model in ADDABLE else 403)


def test_adding_a_connection_starts_with_choosing_its_provider(admin_client, db):
    chooser = admin_client.get(reverse("admin:provisioning_connection_add"))
    assert b"?provider=snaptrade" in chooser.content
    form = admin_client.get(reverse("admin:provisioning_connection_add") + "?provider=snaptrade")
    assert form.status_code == 200
    assert {"credential_client_id", "credential_consumer_key", "credential_region"} <= set(form.context["adminform"].form.fields)


def test_failed_operation_page_shows_its_calls_result_link_and_retry(admin_client, objects):
    response = admin_client.get(reverse("admin:provisioning_operation_change", args=[objects["operation"].pk]))
    html = response.content.decode()
    assert "http://sandbox.test/users?key=***" in html
    assert "req-1" in html
    assert 'href="https://app.example/login?token=x"' in html
    # retries end at a deadline, not after a number of attempts: "0 / 100" promised a hundred
    assert re.search(r'field-attempts_display">.*?<div class="readonly">0</div>', html, re.S)
    assert reverse("admin:provisioning_operation_retry", args=[objects["operation"].pk]) in html
    assert "k4m2z" not in html  # secret input: names only


def test_account_page_shows_captcha_buttons_and_never_the_secrets(admin_client, objects):
    account = objects["account"]
    html = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert reverse("admin:provisioning_account_challenge_image", args=[account.pk]) in html
    assert reverse("admin:provisioning_account_request", args=[account.pk, "answer_captcha"]) in html
    assert reverse("admin:provisioning_account_request", args=[account.pk, "refresh_captcha"]) in html
    # not allowed from awaiting_captcha
    assert reverse("admin:provisioning_account_request", args=[account.pk, "login_link"]) not in html
    assert reverse("admin:provisioning_account_secrets", args=[account.pk]) in html
    assert "User secret" in html and "S3CRET" not in html  # named in words, never shown


def test_captcha_image_is_served_as_jpeg_to_staff(admin_client, objects, client):
    url = reverse("admin:provisioning_account_challenge_image", args=[objects["account"].pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content == JPEG
    assert "no-store" in response["Cache-Control"]


def test_captcha_image_needs_a_signed_in_staff_member(client, objects):
    url = reverse("admin:provisioning_account_challenge_image", args=[objects["account"].pk])
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_answer_captcha_page_shows_the_image(admin_client, objects):
    account = objects["account"]
    response = admin_client.get(reverse("admin:provisioning_account_request", args=[account.pk, "answer_captcha"]))
    assert response.status_code == 200
    assert reverse("admin:provisioning_account_challenge_image", args=[account.pk]).encode() in response.content
    assert b'name="answer"' in response.content


def test_batch_page_shows_progress(admin_client, objects):
    response = admin_client.get(reverse("admin:provisioning_batch_change", args=[objects["batch"].pk]))
    assert b"1 of 1 finished" in response.content


def test_operations_of_a_batch_can_be_listed(admin_client, objects):
    url = reverse("admin:provisioning_operation_changelist") + f"?batch__id__exact={objects['batch'].pk}"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_the_account_page_shows_what_a_person_must_do_whole(admin_client, make_account):
    # the list cuts it to fit a column; the account's page is where the instruction is followed
    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG)
    page = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert "The provider asks for a captcha: read the picture and answer it." in page
    assert 'class="provisioning-cut" title="The provider asks' not in page
    listing = admin_client.get(reverse("admin:provisioning_account_changelist")).content.decode()
    assert 'class="provisioning-cut" title="The provider asks' in listing


def test_an_operations_input_reads_as_words_with_its_json_folded(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_VALIDATION)
    operation = Operation.objects.create(
        kind=OperationKind.VALIDATE, account=account, connection=account.connection, requested_by="admin:admin",
        input={"validation_id": 9, "newsletter": True},
    )
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert '<p class="provisioning-sentence">newsletter: yes; validation id: 9.</p>' in page
    account_url = reverse("admin:provisioning_account_change", args=[account.pk])
    assert f'<a href="{account_url}">#{account.pk} {account.member.email}</a>' in page  # not cut to 12em
    assert "<summary>Technical details</summary>" in page


def test_the_connections_are_filtered_by_provider_name(admin_client, connection):
    page = admin_client.get(reverse("admin:provisioning_connection_changelist")).content.decode()
    label = connection.provider_label
    assert f"?provider={connection.provider}" in page and f">{label}</a>" in page
    filtered = admin_client.get(reverse("admin:provisioning_connection_changelist") + f"?provider={connection.provider}")
    assert filtered.status_code == 200 and connection.name in filtered.content.decode()


def test_an_empty_field_reads_as_a_dash_like_the_portals_own(admin_client, db):
    """Django writes an empty field as "-", the portal's own columns as "—": one list showed both."""
    Member.objects.create(email="no.phone@example.org")
    page = admin_client.get(reverse("admin:provisioning_member_changelist")).content.decode()
    assert '<td class="field-phone">—</td>' in page


def test_a_connection_page_names_its_provider_and_health_as_the_lists_do(admin_client, connection):
    connection.health_status = "ok"
    connection.health_checked_at = timezone.now()
    connection.save()
    html = admin_client.get(reverse("admin:provisioning_connection_change", args=[connection.pk])).content.decode()
    assert re.search(r'field-provider_label">.*?<div class="readonly">Everything</div>', html, re.S)
    # "Healthy 04 Dec 06:06" did not say what the time was
    assert re.search(r'field-health">.*?Healthy</span> <span class="provisioning-quiet">checked <time', html, re.S)
    assert 'field-health_status"' not in html and '<div class="readonly">snaptrade</div>' not in html
    # "5 calls failed in a row" in a quarantine's reason beside "Consecutive failures: 0" read as a contradiction
    assert "Calls failed in a row, since the last answer:" in html


def test_a_connection_page_names_its_credentials_and_kept_secrets_in_words(admin_client, connection):
    connection.secret_state = {"domain_access_token": "DOMAIN-TOKEN-VALUE"}
    connection.save()
    html = admin_client.get(reverse("admin:provisioning_connection_change", args=[connection.pk])).content.decode()
    # as the inputs above them are labelled, not the keys they are stored under
    assert re.search(r'field-credentials_display">.*?<div class="readonly">Client id, Consumer key</div>', html, re.S)
    assert re.search(r'field-secret_state_display">.*?<div class="readonly">Domain access token</div>', html, re.S)
    assert "Secrets kept between calls:" in html and "DOMAIN-TOKEN-VALUE" not in html


def test_what_a_provider_reported_counts_its_lists_and_objects_in_words(admin_client, connection):
    connection.provider_state = {"glpi_password_policy": {f"key{i}": 0 for i in range(6)}, "profiles": ["a"],
                                 "password_min_length": 8}
    connection.save()
    html = admin_client.get(reverse("admin:provisioning_connection_change", args=[connection.pk])).content.decode()
    # "glpi password policy: 6" read as a value of the policy
    assert "password min length: 8; glpi password policy: 6 entries; profiles: 1 item." in html


def test_a_login_link_past_its_time_is_not_offered_as_a_link(admin_client, make_account, connection):
    from datetime import timedelta

    from django.utils import timezone

    account = make_account(AccountStatus.ACTIVE)
    url = "https://app.example/login?token=x"

    def page(expires_at):
        operation = Operation.objects.create(
            kind=OperationKind.LOGIN_LINK, status=OperationStatus.SUCCEEDED, account=account, connection=connection,
            requested_by="admin:admin", result={"redirect_uri": url, "expires_at": expires_at.isoformat()},
        )
        return admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()

    fresh = page(timezone.now() + timedelta(minutes=5))
    assert f'Redirect URI: <a href="{url}"' in fresh and "Expired at" not in fresh
    # an old login link's page offered it to hand on, and the member would have met an error
    expired = page(timezone.now() - timedelta(minutes=1))
    assert f'href="{url}"' not in expired
    assert f"Redirect URI: {url}" in expired and "request a new Login link to send one." in expired


def test_a_refusals_result_names_the_fields_refused(admin_client, make_account, connection):
    # "field errors: 1 entry." said there was something to read, and not what
    operation = Operation.objects.create(
        kind=OperationKind.PROVISION, status=OperationStatus.FAILED, account=make_account(AccountStatus.FAILED),
        connection=connection, requested_by="admin:admin", error_code="invalid_input", error_message="Refused.",
        result={"field_errors": {"email": ["is invalid"], "phone_number": ["is too short", "is not a number"]}},
    )
    html = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert "What the provider refused: email: is invalid; phone number: is too short, is not a number." in html
    assert "1 entry" not in html


def test_a_failed_operation_says_its_error_once(admin_client, make_account, connection):
    account = make_account(AccountStatus.FAILED)
    operation = Operation.objects.create(
        kind=OperationKind.PROVISION, status=OperationStatus.FAILED, account=account, connection=connection,
        requested_by="admin:admin", error_code="rejected", error_message="The provider refused the email.",
    )
    html = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    sentence = explain.operation_error_sentence(operation)
    # under "what happened"; the error row keeps the provider's answer, folded
    assert html.count(f">{sentence}</p>") == 1
    assert re.search(r'field-error_display">.*?<summary>Technical details</summary>', html, re.S)


def test_a_members_accounts_read_one_a_line_in_the_members_list(admin_client, make_account, connection):
    """Side by side, one account's badge ran into the next account's connection name."""
    other = Connection.objects.create(provider="kandy", name="Kandy sandbox", base_url="http://sandbox.test/kandy")
    make_account(AccountStatus.ACTIVE)
    make_account(AccountStatus.FAILED, connection=other)
    page = admin_client.get(reverse("admin:provisioning_member_changelist")).content.decode()
    cell = re.search(r'<td class="field-accounts_summary">(.*?)</td>', page, re.S).group(1)
    lines = cell.split("<br>")
    assert len(lines) == 2
    assert sorted(re.search(r'class="provisioning-summary"[^>]*>([^<]*)</a>', line).group(1) for line in lines) == [
        "Everything sandbox",
        "Kandy sandbox",
    ]


def test_an_operation_page_has_no_rows_of_nothing(admin_client, make_account, connection):
    # a sync read "Batch: —", "Input: —", "Secret input: —", "Links: —" and "Error: —" under their headings
    account = make_account(AccountStatus.ACTIVE)
    plain = Operation.objects.create(kind=OperationKind.SYNC, status=OperationStatus.SUCCEEDED, account=account,
                                     connection=connection, requested_by="admin:admin", result={"plan": "basic"})
    html = admin_client.get(reverse("admin:provisioning_operation_change", args=[plain.pk])).content.decode()
    for row in ("batch_link", "input_display", "secret_input_display", "links", "error_display"):
        assert f"field-{row}" not in html, row
    assert ">Input</h2>" not in html and "field-result_display" in html

    full = Operation.objects.create(
        kind=OperationKind.VERIFY, status=OperationStatus.FAILED, account=account, connection=connection,
        requested_by="admin:admin", input={"channel": "sms"}, secret_input={"code": "123456"},
        error_code="invalid_input", error_message="No.", result={"redirect_uri": "https://app.example/x"},
    )
    html = admin_client.get(reverse("admin:provisioning_operation_change", args=[full.pk])).content.decode()
    for row in ("input_display", "secret_input_display", "links", "error_display"):
        assert f"field-{row}" in html, row
