"""An account's page shows the rows that apply to its provider, under names staff read."""

from django.urls import reverse

from provisioning.models import Account, Connection, Member


def test_an_accounts_page_shows_a_captcha_row_only_when_there_is_a_captcha(admin_client, db):
    # a Xhoppe account's page said "Captcha: —"; and "External id" for the id at the provider
    ada = Member.objects.create(email="ada@example.org")
    pages = {}
    for provider, image in (("xhoppe", b""), ("flyve", b""), ("kandy", b"\xff\xd8 a picture")):
        connection = Connection.objects.create(provider=provider, name=provider, base_url="http://p.test", credentials={})
        account = Account.objects.create(member=ada, connection=connection, external_id="remote-7",
                                         challenge_image=image)
        pages[provider] = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert "<label>Captcha:</label>" not in pages["xhoppe"] + pages["flyve"]
    assert "<label>Captcha:</label>" in pages["kandy"]
    assert "<label>Id at the provider:</label>" in pages["xhoppe"] and "External id" not in pages["xhoppe"]


def test_an_accounts_page_has_no_rows_of_nothing(admin_client, db):
    # an active account's page read "Needs a person", then "What a person must do: —", "Last error: —",
    # and "Secrets stored: —", "Unfinished operation: —"
    ada = Member.objects.create(email="ada@example.org")
    kandy = Connection.objects.create(provider="kandy", name="Kandy", base_url="http://k.test", credentials={})
    quiet = Account.objects.create(member=ada, connection=kandy, status="active", external_id="remote-7")
    page = admin_client.get(reverse("admin:provisioning_account_change", args=[quiet.pk])).content.decode()
    assert ">Needs a person</h2>" not in page
    for row in ("person_sentence_whole", "last_error_display", "secrets_display", "pending_operation"):
        assert f"field-{row}" not in page, row

    Account.objects.filter(pk=quiet.pk).update(status="failed", secrets={"api_key": "k"},
                                               last_error={"code": "rejected", "message": "No."})
    page = admin_client.get(reverse("admin:provisioning_account_change", args=[quiet.pk])).content.decode()
    assert ">Needs a person</h2>" in page
    for row in ("person_sentence_whole", "last_error_display", "secrets_display"):
        assert f"field-{row}" in page, row


def test_an_operation_the_account_does_not_offer_says_why(admin_client, db):
    # "Deprovision is not available for … now.", from an old link or a bookmark, said nothing of why
    ada = Member.objects.create(email="ada@example.org")
    xhoppe = Connection.objects.create(provider="xhoppe", name="Xhoppe", base_url="http://p.test", credentials={})
    account = Account.objects.create(member=ada, connection=xhoppe, status="active")
    for kind, why in (("deprovision", "Xhoppe does not support &#x27;Deprovision&#x27;."),
                      ("verify", "Verify SMS code is not possible for an account that is active: only for one that "
                                 "is awaiting verification.")):
        response = admin_client.get(reverse("admin:provisioning_account_request", args=[account.pk, kind]), follow=True)
        assert why in response.content.decode()


def test_secret_names_read_as_words():
    from provisioning import explain

    assert explain.secret_names(["user_api_key", "user_password"]) == "User API key, User password"
    assert explain.secret_names(["user_secret"]) == "User secret" and explain.secret_names([]) == "—"


def test_a_members_page_names_its_reference_and_its_accounts_ids_in_words(admin_client, db):
    # it said "External ref:" and, for its accounts, "External id"
    ada = Member.objects.create(email="ada@example.org", external_ref="HR-7")
    xhoppe = Connection.objects.create(provider="xhoppe", name="Xhoppe", base_url="http://p.test", credentials={})
    Account.objects.create(member=ada, connection=xhoppe, external_id="6591234567")
    page = admin_client.get(reverse("admin:provisioning_member_change", args=[ada.pk])).content.decode()
    assert "Reference:</label>" in page and "the external_ref column of an import" in page
    assert "External ref" not in page and "External id" not in page and "Id at the provider" in page


def test_an_operation_of_the_other_kind_of_object_is_refused_in_words(admin_client, db):
    # a connection's operation at an account's address raised a TypeError (a 500): the account
    # state was checked against the states of an operation that has none
    ada = Member.objects.create(email="ada@example.org")
    kandy = Connection.objects.create(provider="kandy", name="Kandy", base_url="http://k.test", credentials={})
    account = Account.objects.create(member=ada, connection=kandy, status="active")
    response = admin_client.get(reverse("admin:provisioning_account_request", args=[account.pk, "health_check"]),
                                follow=True)
    assert "Health check is asked of a connection, not of an account." in response.content.decode()
    response = admin_client.get(reverse("admin:provisioning_connection_request", args=[kandy.pk, "provision"]),
                                follow=True)
    assert "Provision is asked of an account, not of a connection." in response.content.decode()
