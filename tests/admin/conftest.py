"""Admin tests: a stand-in provider that offers every operation, and objects to look at.

The stand-in borrows the ``snaptrade`` kind for the test only (installed through the setting),
so the tests depend on the admin alone, not on what a real provider offers today.
"""

import pytest

from provisioning import services
from provisioning.models import Account, Connection
from provisioning.providers.base import Provider
from provisioning.providers.flyve import FlyveProvider
from provisioning.providers.snaptrade import SnapTradeProvider
from provisioning.providers.xhoppe import XhoppeProvider
from provisioning.providers.http import ProviderClient
from provisioning.providers.inputs import InputField
from provisioning.states import OPERATION_SPECS, AccountStatus

# a captcha's worth of JPEG: the admin serves whatever bytes the account holds
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01fake-captcha\xff\xd9"


class EverythingProvider(Provider):
    kind = "snaptrade"
    label = "Everything"
    client_class = ProviderClient
    operations = frozenset(OPERATION_SPECS)
    credential_fields = (
        InputField("client_id"),
        InputField("consumer_key", secret=True),
        InputField("region", required=False),
    )
    # the inputs the real providers declare (an SMS code, a captcha answer, a validation link...)
    input_fields = {**XhoppeProvider.input_fields, **FlyveProvider.input_fields, **SnapTradeProvider.input_fields}
    check_input = FlyveProvider.check_input


@pytest.fixture(autouse=True)
def everything_provider(install_providers):
    install_providers(EverythingProvider)
    return EverythingProvider


@pytest.fixture
def connection(db):
    return Connection.objects.create(
        provider="snaptrade",
        name="Everything sandbox",
        base_url="http://sandbox.test/everything",
        credentials={"client_id": "CLIENT-ID-VALUE", "consumer_key": "CONSUMER-KEY-VALUE-42"},
    )


@pytest.fixture
def make_account(member, connection):
    def make(status=AccountStatus.PENDING, *, member=member, connection=connection, **fields):
        account = Account.objects.create(member=member, connection=connection, status=status, **fields)
        services.members_note_accounts([member.pk])  # as the services that add accounts do
        return account

    return make


@pytest.fixture
def staff_user(db, django_user_model):
    """A staff user with only the permissions a test gives it (``grant``)."""
    return django_user_model.objects.create_user(username="clerk", password="pw", is_staff=True)


@pytest.fixture
def grant(staff_user):
    from django.contrib.auth.models import Permission

    def grant(*codenames):
        for codename in codenames:
            staff_user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="provisioning"))
        # permissions are cached on the instance
        return type(staff_user).objects.get(pk=staff_user.pk)

    return grant


@pytest.fixture
def staff_client(client, staff_user):
    """Signed in as ``staff_user``, past the second factor (needed once ``grant`` gives it the
    right to read secrets or manage connections)."""
    from tests.conftest import pass_second_factor

    client.force_login(staff_user)
    return pass_second_factor(client, staff_user)
