"""An operation that finishes while its account's page is being built: the page read the account
(provisioning), then found no unfinished operation (the worker had just committed). Its buttons
must follow the state the operation left (active: deprovision...), or the page shows an active
account with no button and no refresh, until someone reloads it."""

from django.urls import reverse

from provisioning.admin.accounts import AccountAdmin
from provisioning.models import Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus


def test_an_operation_that_ends_while_the_page_is_built_leaves_its_buttons(admin_client, make_account, monkeypatch):
    account = make_account(AccountStatus.PROVISIONING)
    operation = Operation.objects.create(kind=OperationKind.PROVISION, status=OperationStatus.RUNNING, account=account,
                                         connection=account.connection, requested_by="admin:x")
    unfinished = AccountAdmin.unfinished_operation

    def the_worker_commits_first(self, obj):
        Operation.objects.filter(pk=operation.pk).update(status=OperationStatus.SUCCEEDED)
        type(obj).objects.filter(pk=obj.pk).update(status=AccountStatus.ACTIVE)
        return unfinished(self, obj)

    monkeypatch.setattr(AccountAdmin, "unfinished_operation", the_worker_commits_first)

    page = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()

    assert reverse("admin:provisioning_account_request", args=[account.pk, "deprovision"]) in page
    assert 'http-equiv="refresh"' not in page
