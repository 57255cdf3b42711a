"""The worker's hot path stays short: a successful attempt is two short transactions (the claim,
then the outcome with its exchange records) and a handful of queries, whatever runs around it."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from provisioning import services
from provisioning.models import ExternalCall
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

STAFF = services.Requester("test:staff")
pytestmark = pytest.mark.django_db(transaction=True)  # real transactions, not savepoints

# the claim (one read, the account's and the operation's writes) and the outcome (the exchange,
# the connection's failure count, the account under its lock, both writes, the webhook check,
# the next operation waiting for a slot): 11 today
MAX_QUERIES = 12


def statements(captured) -> list[str]:
    return [query["sql"].split()[0].upper() for query in captured]


def run_provision(account, http):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t"})
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    with CaptureQueriesContext(db_connection) as captured:
        services.operation_execute(operation_id=operation.pk)
    return operation, captured


def test_a_successful_attempt_is_two_transactions_and_few_queries(account, http):
    operation, captured = run_provision(account, http)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    kinds = statements(captured)
    assert kinds.count("BEGIN") == 2, kinds
    work = [kind for kind in kinds if kind not in ("BEGIN", "COMMIT")]
    assert len(work) <= MAX_QUERIES, [query["sql"][:100] for query in captured]


def test_the_exchange_is_written_in_the_transaction_of_the_outcome(account, http):
    operation, captured = run_provision(account, http)

    sql = [query["sql"] for query in captured]
    last_begin = max(i for i, query in enumerate(sql) if query.upper().startswith("BEGIN"))
    insert = next(i for i, query in enumerate(sql) if query.startswith('INSERT INTO "provisioning_externalcall"'))
    outcome = next(i for i, query in enumerate(sql) if query.startswith('UPDATE "provisioning_operation"')
                   and "'succeeded'" in query)
    assert last_begin < insert < outcome
    operation.refresh_from_db()
    call = ExternalCall.objects.get(operation=operation)
    assert call.created_at <= operation.finished_at  # when the answer came, not when it was written


def test_the_claim_reads_the_operation_and_what_it_needs_in_one_query(account, http):
    _, captured = run_provision(account, http)

    sql = [query["sql"] for query in captured]
    first_commit = next(i for i, query in enumerate(sql) if query.upper().startswith("COMMIT"))
    claim = sql[:first_commit]
    assert sum(query.startswith("SELECT") for query in claim) == 1
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
