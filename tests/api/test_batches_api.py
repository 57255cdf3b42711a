"""Batches: many provisionings at once, and their progress."""

from provisioning import services
from provisioning.models import Account, Batch, Connection, Member, Operation
from provisioning.providers.xhoppe import XhoppeProvider
from provisioning.states import AccountStatus


def members(n):
    return [Member.objects.create(email=f"m{i}@example.org") for i in range(n)]


def test_batch_of_listed_members_provisions_each_and_reports_progress(admin_client_api, connection, fake_http):
    chosen = members(3)
    response = admin_client_api.post(
        "/api/v1/batches/", {"connection": connection.pk, "members": [m.pk for m in chosen]}, format="json"
    )
    assert response.status_code == 202, response.json()
    batch = response.json()
    assert batch["total"] == 3
    assert batch["counts"] == {"queued": 3}
    assert batch["finished"] is False
    assert batch["left_out"] == {"count": 0, "over_quota": 0, "over_quota_members": [], "incomplete": 0,
                                 "incomplete_members": [], "already_there": {}, "message": ""}
    assert response["Location"].endswith(f"/api/v1/batches/{batch['id']}/")

    first = Batch.objects.get(pk=batch["id"]).operations.order_by("id").first()
    services.operation_execute(operation_id=first.pk)
    progress = admin_client_api.get(f"/api/v1/batches/{batch['id']}/").json()
    assert progress["counts"] == {"queued": 2, "succeeded": 1}
    assert progress["finished"] is False

    for operation in Batch.objects.get(pk=batch["id"]).operations.filter(status="queued"):
        services.operation_execute(operation_id=operation.pk)
    progress = admin_client_api.get(f"/api/v1/batches/{batch['id']}/").json()
    assert progress == {**progress, "total": 3, "counts": {"succeeded": 3}, "finished": True}


def test_all_without_account_skips_members_that_have_one(admin_client_api, account):
    others = members(2)
    response = admin_client_api.post(
        "/api/v1/batches/", {"connection": account.connection_id, "all_without_account": True}, format="json"
    )
    assert response.status_code == 202
    assert response.json()["total"] == 2
    assert set(Account.objects.exclude(pk=account.pk).values_list("member_id", flat=True)) == {m.pk for m in others}


def test_members_or_all_without_account_exactly_one(admin_client_api, member, connection):
    for body in (
        {"connection": connection.pk},
        {"connection": connection.pk, "members": [member.pk], "all_without_account": True},
        {"connection": connection.pk, "members": []},
    ):
        response = admin_client_api.post("/api/v1/batches/", body, format="json")
        assert response.status_code == 400, body
        assert "members" in response.json()
    assert not Batch.objects.exists()


def test_unknown_members_are_400_and_nothing_is_created(admin_client_api, member, connection):
    response = admin_client_api.post(
        "/api/v1/batches/", {"connection": connection.pk, "members": [member.pk, 9999]}, format="json"
    )
    assert response.status_code == 400
    assert "members" in response.json()
    assert not Account.objects.exists()


def test_nobody_left_without_an_account_is_400(admin_client_api, account):
    response = admin_client_api.post(
        "/api/v1/batches/", {"connection": account.connection_id, "all_without_account": True}, format="json"
    )
    assert response.status_code == 400
    # not "Give at least one member.", to a client that asked for all of them
    assert response.json()["members"] == [
        f"Every member has an account at '{account.connection}' already: nobody is left to provision."]


def test_a_batch_over_the_quota_is_409_and_creates_nothing(admin_client_api, connection):
    connection.max_accounts = 1
    connection.save()
    Account.objects.create(member=members(1)[0], connection=connection, status=AccountStatus.ACTIVE)
    chosen = [Member.objects.create(email="q@example.org")]
    response = admin_client_api.post(
        "/api/v1/batches/", {"connection": connection.pk, "members": [m.pk for m in chosen]}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "quota_exceeded"
    assert not Batch.objects.exists()


def test_batches_list_newest_first(admin_client_api, connection):
    first = Batch.objects.create(connection=connection, requested_by="a")
    second = Batch.objects.create(connection=connection, requested_by="b")
    results = admin_client_api.get("/api/v1/batches/").json()["results"]
    assert [b["id"] for b in results] == [second.pk, first.pk]
    assert results[0]["counts"] == {} and results[0]["finished"] is True


def test_the_api_follows_the_admin_rule_failed_and_deprovisioned_again_and_never_over_the_quota(
        admin_client_api, admin_client, connection):
    connection.max_accounts = 3
    connection.save()
    failed, gone, active, new, late = members(5)
    Account.objects.create(member=failed, connection=connection, status=AccountStatus.FAILED)
    Account.objects.create(member=gone, connection=connection, status=AccountStatus.DEPROVISIONED)
    Account.objects.create(member=active, connection=connection, status=AccountStatus.ACTIVE)
    response = admin_client_api.post(
        "/api/v1/batches/",
        {"connection": connection.pk, "members": [m.pk for m in (failed, gone, active, new, late)]},
        format="json",
    )
    assert response.status_code == 202, response.json()
    batch = Batch.objects.get(pk=response.json()["id"])
    # 3 places, 1 used by the active account: the failed and the deprovisioned ones, the same accounts
    assert response.json()["total"] == 2
    assert {op.account.member for op in batch.operations.all()} == {failed, gone}
    assert Account.objects.count() == 3
    # the answer says who was left out, and why
    assert response.json()["left_out"] == {
        "count": 3,
        "over_quota": 2,
        "over_quota_members": [new.pk, late.pk],
        "incomplete": 0,
        "incomplete_members": [],
        "already_there": {"active": 1},
        "message": f"3 of the 5 members given were not sent: 2 because the quota of {connection} (3 accounts) "
                   "allows no more (raise the quota or deprovision accounts there, then send them again); "
                   "1 because they already have an account there (active: 1), left as it is.",
    }
    # and the batch keeps it: a client that lost the answer reads it again (it was not kept)
    assert admin_client_api.get(f"/api/v1/batches/{batch.pk}/").json()["left_out"] == response.json()["left_out"]
    assert "left_out" not in admin_client_api.get("/api/v1/batches/").json()["results"][0]  # a list's row: progress
    # ... as does its page in the admin
    page = admin_client.get(f"/admin/provisioning/batch/{batch.pk}/change/").content.decode()
    assert "Not sent:" in page and "3 of the 5 members given were not sent" in page


def test_a_batch_of_the_admins_actions_has_no_members_left_out_to_say(admin_client_api, admin_client, connection):
    from provisioning import services

    batch = services.batch_start(connection=connection, requested_by=services.Requester("admin:admin"))
    assert admin_client_api.get(f"/api/v1/batches/{batch.pk}/").json()["left_out"] is None
    page = admin_client.get(f"/admin/provisioning/batch/{batch.pk}/change/").content.decode()
    assert "Connection:" in page and "Not sent:" not in page


def test_members_the_provider_cannot_register_as_they_are_are_left_out_and_the_answer_says_why(
    admin_client_api, install_providers
):
    install_providers(XhoppeProvider)  # the real one, not this folder's stand-in
    shop = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})
    reachable = Member.objects.create(email="reachable@example.org", phone="+6591230001")
    silent, quiet = members(2)
    response = admin_client_api.post(
        "/api/v1/batches/", {"connection": shop.pk, "members": [silent.pk, reachable.pk, quiet.pk]}, format="json"
    )
    assert response.status_code == 202, response.json()
    batch = Batch.objects.get(pk=response.json()["id"])
    assert [op.account.member for op in batch.operations.all()] == [reachable]
    assert not Account.objects.filter(member__in=[silent, quiet]).exists()
    left_out = response.json()["left_out"]
    assert (left_out["count"], left_out["incomplete"], left_out["incomplete_members"]) == (2, 2, [silent.pk, quiet.pk])
    assert left_out["message"] == (
        "2 of the 3 members given were not sent: 2 because Shop cannot register them as they are. No phone "
        "number: Xhoppe registers people by phone. Add the phone number, then provision."
    )
    # nobody it can register: nothing is made, and the answer says why
    response = admin_client_api.post("/api/v1/batches/", {"connection": shop.pk, "members": [silent.pk]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"members": [
        "The member given was not sent, because Shop cannot register them as they are. No phone "
        "number: Xhoppe registers people by phone. Add the phone number, then provision."
    ]}
    assert Batch.objects.count() == 1


def test_a_batch_of_thousands_of_members_costs_a_few_queries_per_chunk_not_per_member(
    admin_client_api, connection, django_assert_max_num_queries
):
    ids = [m.pk for m in Member.objects.bulk_create(Member(email=f"k{i}@example.org") for i in range(1200))]
    with django_assert_max_num_queries(40):
        response = admin_client_api.post("/api/v1/batches/", {"connection": connection.pk, "members": ids}, format="json")
    assert response.status_code == 202
    assert response.json()["total"] == 1200


def test_repeated_members_are_sent_once_and_wrong_types_are_400(admin_client_api, connection):
    chosen = members(2)
    ids = [chosen[0].pk, chosen[1].pk, chosen[0].pk]
    response = admin_client_api.post("/api/v1/batches/", {"connection": connection.pk, "members": ids}, format="json")
    assert response.status_code == 202 and response.json()["total"] == 2
    for wrong in ([str(chosen[0].pk)], [True], "1", [0]):
        response = admin_client_api.post("/api/v1/batches/", {"connection": connection.pk, "members": wrong}, format="json")
        assert response.status_code == 400 and "members" in response.json(), wrong


def test_the_left_out_sentence_names_statuses_in_words_and_the_busy_ones(connection):
    from provisioning import explain, selectors

    preview = selectors.BatchPreview(connection=connection, selected=4, existing={"awaiting_verification": 2,
                                                                                  "failed": 1}, busy=1)
    assert explain.batch_left_out_sentence(preview) == (
        "3 of the 4 members given were not sent: 3 because they already have an account there "
        "(waiting for the SMS code: 2, failed: 1, 1 of them with an operation under way), left as it is."
    )
    assert explain.batch_left_out_sentence(selectors.BatchPreview(connection=connection, selected=4)) == ""


def test_a_batch_says_how_many_of_its_accounts_wait_for_a_person_as_its_admin_page_does(admin_client_api, connection):
    # the admin's batch page said "2 of these accounts now wait for a person"; the API did not
    batch = Batch.objects.create(connection=connection, requested_by="api:bot")
    for n, status in enumerate((AccountStatus.AWAITING_CAPTCHA, AccountStatus.AWAITING_VERIFICATION,
                                AccountStatus.ACTIVE, AccountStatus.FAILED)):
        account = Account.objects.create(member=Member.objects.create(email=f"w{n}@example.org"),
                                         connection=connection, status=status)
        Operation.objects.create(kind="provision", status="succeeded", account=account, connection=connection,
                                 batch=batch, requested_by="api:bot")
    assert admin_client_api.get(f"/api/v1/batches/{batch.pk}/").json()["awaiting_a_person"] == 2
    # the list leaves it out: it would be one more query per batch
    assert "awaiting_a_person" not in admin_client_api.get("/api/v1/batches/").json()["results"][0]


def test_an_id_that_is_not_a_number_says_what_an_id_is(admin_client_api, member, connection):
    # DRF said "Incorrect type. Expected pk value, received str."
    cases = [("/api/v1/batches/", {"connection": connection.pk, "members": ["7"]}, "members", "member", "a string"),
             ("/api/v1/batches/", {"connection": 1.5, "members": [member.pk]}, "connection", "connection",
              "a decimal number"),
             ("/api/v1/accounts/", {"member": {"id": member.pk}, "connection": connection.pk}, "member", "member",
              "an object")]
    for url, body, field, name, given in cases:
        response = admin_client_api.post(url, body, format="json")
        assert response.status_code == 400, body
        assert response.json()[field] == [f"Give the {name}'s id, a whole number such as 7, not {given}."], body
