"""Shared reads: the quota count has one definition, per connection and as a list annotation."""

from provisioning import selectors
from provisioning.models import Account, Connection, Member
from provisioning.states import AccountStatus


def test_quota_used_counts_only_accounts_that_hold_a_place(db):
    full = Connection.objects.create(provider="kandy", name="full", base_url="https://k.test", max_accounts=5)
    Connection.objects.create(provider="kandy", name="empty", base_url="https://k2.test")
    for n, status in enumerate(AccountStatus.values):
        Account.objects.create(member=Member.objects.create(email=f"m{n}@example.org"), connection=full, status=status)
    holding = len(AccountStatus.values) - 3  # all but pending, failed, deprovisioned

    annotated = {c.name: c.quota_used for c in selectors.connections_with_quota_used(Connection.objects.all())}

    assert selectors.connection_quota_used(full) == holding
    assert annotated == {"full": holding, "empty": 0}
    active = full.accounts.get(status=AccountStatus.ACTIVE)
    assert selectors.connection_quota_used(full, excluding=active) == holding - 1
