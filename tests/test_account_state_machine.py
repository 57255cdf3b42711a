import pytest

from provisioning.models import Operation
from provisioning.states import (
    ACCOUNT_TRANSITIONS,
    OPERATION_SPECS,
    AccountStatus,
    InvalidTransition,
    OperationKind,
    check_transition,
)


def test_illegal_transitions_are_refused():
    with pytest.raises(InvalidTransition):
        check_transition(AccountStatus.PENDING, AccountStatus.ACTIVE)
    with pytest.raises(InvalidTransition):
        check_transition(AccountStatus.DEPROVISIONED, AccountStatus.ACTIVE)


def test_every_state_an_operation_starts_from_can_reach_its_running_state():
    for spec in OPERATION_SPECS.values():
        if not spec.on_account or not spec.running_status:
            continue
        for state in spec.allowed_from:
            check_transition(state, spec.running_status)


def test_every_state_is_described():
    assert set(ACCOUNT_TRANSITIONS) == set(AccountStatus.values)


def test_an_operations_kind_reads_as_its_button():
    # the operation lists said "Refresh Captcha" for what the button calls "New captcha", and
    # "Sync" for "Sync remote state": one set of words, the kind's label
    for kind, spec in OPERATION_SPECS.items():
        assert Operation(kind=kind).get_kind_display() == spec.label
    assert OperationKind.REFRESH_CAPTCHA.label == "New captcha"
    assert OperationKind.VERIFY.label == "Verify SMS code"
