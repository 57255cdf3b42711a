"""Drift between the portal's accounts and a provider's users, for sync and reconcile alike.

Flags the portal sets about remote state start with ``DRIFT_PREFIX``, so that a later check
clears its own flags once the drift is gone and never another reason for attention.

Reconciliation is non-destructive: it flags, it never deprovisions. An outcome that would flag
more accounts at once than the mass-deletion threshold is not applied until a person confirms
it (``services/guards.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..states import AccountStatus
from .base import Outcome

DRIFT_PREFIX = "Drift: "

# local states in which a remote user should not exist. Not ``deprovisioned``: some providers
# (SnapTrade) delete asynchronously, so a user listed for a while after deprovisioning is normal.
NOT_EXPECTED_REMOTELY = (AccountStatus.FAILED,)


@dataclass(frozen=True)
class LocalAccount:
    """What reconciliation needs to know of one of the connection's accounts."""

    id: int
    external_id: str
    status: str
    attention: str


def missing_message(label: str, user_id: str) -> str:
    return (
        f"{DRIFT_PREFIX}{label} no longer has user {user_id}: it was removed outside the portal "
        "(or the connection now points elsewhere). Deprovision this account, then provision it "
        "again if the member still needs it."
    )


def stray_message(label: str, user_id: str, status: str) -> str:
    return f"{DRIFT_PREFIX}{label} still has user {user_id} although this account is {status}."


def clear_own_flag(attention: str) -> str | None:
    """The attention to set once the remote state is as expected: cleared if we set it."""
    return "" if attention.startswith(DRIFT_PREFIX) else None


def account_drift(*, label: str, account: LocalAccount, present: bool) -> str | None:
    """The attention an account should get for its remote presence (``None``: leave as is)."""
    if account.status == AccountStatus.ACTIVE and not present:
        return missing_message(label, account.external_id)
    if account.status in NOT_EXPECTED_REMOTELY and present:
        return stray_message(label, account.external_id, account.status)
    return clear_own_flag(account.attention)


def reconcile(
    *,
    label: str,
    remote_ids: Iterable[str],
    local: Iterable[LocalAccount],
    is_ours: Callable[[str], bool],
) -> Outcome:
    """Compare the provider's user ids with the connection's accounts.

    Accounts that drifted are flagged (and earlier drift flags cleared where resolved); users
    that look like this portal's for this connection but match no account are listed; other
    remote users are only counted.
    """
    remote = set(remote_ids)
    local = [account for account in local if account.external_id]
    known = {account.external_id for account in local}
    attention: dict[int, str] = {}
    missing, stray = [], []
    for account in local:
        present = account.external_id in remote
        flag = account_drift(label=label, account=account, present=present)
        if flag is not None and flag != account.attention:
            attention[account.id] = flag
        if account.status == AccountStatus.ACTIVE and not present:
            missing.append(account.external_id)
        elif account.status in NOT_EXPECTED_REMOTELY and present:
            stray.append(account.external_id)
    unknown = remote - known
    # a deletion the provider queued (SnapTrade) is done once the user is no longer listed
    deleted = [a.id for a in local if a.status == AccountStatus.DEPROVISIONING and a.external_id not in remote]
    return Outcome(
        account_attention=attention,
        remote_deletions_done=deleted,
        result={
            "remote_users": len(remote),
            "local_accounts": len(local),
            "missing_remotely": sorted(missing),
            "present_but_failed": sorted(stray),
            "unknown_remotely": sorted(uid for uid in unknown if is_ours(uid)),
            "foreign_remotely": sum(1 for uid in unknown if not is_ours(uid)),
        },
    )
