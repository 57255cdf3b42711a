"""Reads that several interfaces share (API, admin, metrics). Plain functions, ``<thing>_<query>``."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone
from typing import NamedTuple

from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Prefetch, Q, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from .fields import encrypted_paths
from .models import Account, Batch, Connection, ExternalCall, Member, Operation
from .providers.exceptions import ConfigurationError
from .providers.http import recorded_error
from .states import (
    AWAITING_ACCOUNT_STATUSES,
    NEEDS_PERSON_ACCOUNT_STATUSES,
    QUOTA_FREE_ACCOUNT_STATUSES,
    UNFINISHED_OPERATION_STATUSES,
    AccountStatus,
    OperationKind,
    OperationStatus,
)

FINISHED_OPERATION_STATUSES = (OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.CANCELLED)

# The one rule of "needs a person": nothing moves until someone answers a captcha, enters an SMS
# code, pastes a validation link or retries a failed provisioning, or the account is flagged
# (``attention``: drift found by reconciliation, a lost secret, retries given up). The admin's
# filter, the overview's queue and the API's ``needs_person`` all use it; the partial index
# ``account_needs_person_idx`` has the same condition. ``Account.needs_person`` says it of one.
NEEDS_PERSON = Q(status__in=NEEDS_PERSON_ACCOUNT_STATUSES) | ~Q(attention="")

# counts shown on the overview stop here ("1000+"): no full count of a big table
COUNT_LIMIT = 1000


def operations_due(now) -> Q:
    """The one rule of an operation due to run: queued or waiting to retry, with no time or its
    time come. The sweeper sends those no message carries any more; a capped connection's
    dispatch counts those sent and not claimed yet as taking its free slots first."""
    return Q(status__in=[OperationStatus.QUEUED, OperationStatus.WAITING_RETRY]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def of_provider(provider: str) -> Q:
    """The rows (accounts, operations, calls...) of ``provider``'s connections: their ids, read
    first from the small table of connections, not a join to it. Given the ids, PostgreSQL knows
    from each one's statistics how many rows match; given the join, it guessed, and walked every
    call newest first to fill a page of a provider that had none (2,000,000 calls: 705-932 ms)."""
    return Q(connection_id__in=list(Connection.objects.filter(provider=provider).values_list("pk", flat=True)))


def accounts_needing_a_person(queryset=None):
    """Accounts a person must act on, newest change first."""
    queryset = Account.objects.all() if queryset is None else queryset
    return queryset.filter(NEEDS_PERSON).order_by("-updated_at", "-id")


def first_ids(queryset, limit: int) -> tuple[list[int], bool]:
    """``(ids, more)``: the ids of at most ``limit`` rows of ``queryset``, in no order, and
    whether it has more. Reads ``limit + 1`` ids at most, from an index where there is one."""
    ids = list(queryset.order_by().values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit


def bounded_count(queryset, limit: int = COUNT_LIMIT) -> tuple[int, bool]:
    """``(n, more)``: how many rows ``queryset`` has, counting at most ``limit`` (``more`` when
    there are more)."""
    ids, more = first_ids(queryset, limit)
    return len(ids), more


# the most rows a search reads by id (``first_ids``) before its page, which it then reads by those
# ids: the same page, without PostgreSQL walking the list's order index through the rows that do
# not match (where matches are rare, or made together). On 500,000 members, 20,000 ids are read
# in 3-13 ms and a page by 11,111 of them in 16 ms; with 1,000, words 11,111 members share went to
# the condition, and the API's search walked the members newest first: 185-313 ms, against 40-44
# ms by id. Where more rows match, they are common enough along a list's order.
IDS_FIRST = 20_000


def unfinished_operations_by_connection():
    """``{"connection_id", "status", "n"}`` rows: the unfinished operations of each connection, by
    status. ``COUNT(*)``, not of the ids: the unfinished operations' own index then answers it
    alone (``operation_unfinished_idx``), without a look at the table."""
    return (
        Operation.objects.filter(status__in=UNFINISHED_OPERATION_STATUSES)
        .order_by()
        .values("connection_id", "status")
        .annotate(n=Count("*"))
    )


def overview_figures(*, days: int = 30, queue_size: int = 20) -> dict:
    """Every figure of the admin's overview, from indexed queries (a handful, whatever the rows).

    ``queue``: the newest accounts needing a person (at most ``queue_size``), ``queue_count``
    (bounded); ``connections``: each with ``quota_used`` (bounded), ``in_flight`` {status: n}
    and ``failures`` {error_code: n} of the last 24 h; ``days``: [(date, succeeded, failed)] of
    provisions finished per day, oldest first.
    """
    now = timezone.now()
    queue = list(accounts_needing_a_person().select_related("member", "connection")[:queue_size])
    queue_count = bounded_count(accounts_needing_a_person())
    connections = list(Connection.objects.order_by("name", "id"))
    limit = quota_count_limit(connections)
    quota_used = connections_bounded_quota_used(limit)
    in_flight: dict[int, dict[str, int]] = {}
    for row in unfinished_operations_by_connection():
        in_flight.setdefault(row["connection_id"], {})[row["status"]] = row["n"]
    failures: dict[int, dict[tuple[str, str], int]] = {}  # by (kind, error code): what to do depends on both
    rows = (
        Operation.objects.filter(status=OperationStatus.FAILED, finished_at__gte=now - timedelta(hours=24))
        .order_by()
        .values("connection_id", "kind", "error_code")
        .annotate(n=Count("id"))
    )
    for row in rows:
        failures.setdefault(row["connection_id"], {})[(row["kind"], row["error_code"])] = row["n"]
    cards = []
    for connection in connections:
        used = quota_used.get(connection.pk, 0)
        cards.append(
            {
                "connection": connection,
                "quota_used": (min(used, limit), used >= limit),
                "in_flight": in_flight.get(connection.pk, {}),
                "failures": sorted(failures.get(connection.pk, {}).items(), key=lambda item: -item[1]),
            }
        )
    return {
        "at": now,
        "queue": queue,
        "queue_count": queue_count,
        "cards": cards,
        "days": provisions_per_day(days=days, now=now),
    }


def connections_bounded_quota_used(limit: int) -> dict[int, int]:
    """``{connection_id: accounts counting against its quota}``, each counted up to ``limit``."""
    return dict(connections_with_quota_used(Connection.objects.all(), limit=limit).values_list("pk", "quota_used"))


def quota_count_limit(connections=None) -> int:
    """Where a quota count may stop and still tell every connection's quota apart from full:
    ``COUNT_LIMIT``, or one more than the largest quota."""
    quotas = [c.max_accounts for c in connections] if connections is not None else list(
        Connection.objects.exclude(max_accounts=None).values_list("max_accounts", flat=True)
    )
    return max([COUNT_LIMIT] + [(quota or 0) + 1 for quota in quotas])


def provisions_per_day(*, days: int = 30, now=None) -> list[tuple]:
    """``[(date, succeeded, failed)]`` of provision operations finished each of the last ``days``
    days (UTC), oldest first, days without any included."""
    now = now or timezone.now()
    first = now.date() - timedelta(days=days - 1)
    rows = (
        Operation.objects.filter(
            kind=OperationKind.PROVISION,
            status__in=(OperationStatus.SUCCEEDED, OperationStatus.FAILED),
            # a plain range on the column, so that the index serves it
            finished_at__gte=datetime.combine(first, time.min, tzinfo=dt_timezone.utc),
        )
        .order_by()
        .annotate(day=TruncDate("finished_at"))
        .values("day", "status")
        .annotate(n=Count("id"))
    )
    counts = {(row["day"], row["status"]): row["n"] for row in rows}
    return [
        (day, counts.get((day, OperationStatus.SUCCEEDED), 0), counts.get((day, OperationStatus.FAILED), 0))
        for day in (first + timedelta(days=i) for i in range(days))
    ]


def connection_account_counts(connection: Connection) -> dict[str, int]:
    """``{status: number of accounts}`` of one connection, statuses without accounts left out."""
    rows = connection.accounts.order_by().values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def connection_quota_used(connection: Connection, *, excluding: Account | None = None) -> int:
    """Accounts of ``connection`` that count against its quota (``max_accounts``)."""
    accounts = connection.accounts.exclude(status__in=QUOTA_FREE_ACCOUNT_STATUSES)
    if excluding is not None:
        accounts = accounts.exclude(pk=excluding.pk)
    return accounts.count()


def connections_with_quota_used(queryset, *, limit: int | None = None):
    """``queryset`` of connections annotated with ``quota_used`` (as ``connection_quota_used``),
    counted up to ``limit`` at most (``None``: all). Per connection a correlated ``COUNT`` (of a
    ``LIMIT``-ed subquery), served by the (connection, status) index: a connection with a
    million accounts costs ``limit`` index entries, not a million, and no join is grouped."""
    from django.db import connection as db

    accounts = db.ops.quote_name(Account._meta.db_table)
    connections = db.ops.quote_name(Connection._meta.db_table)
    free = list(QUOTA_FREE_ACCOUNT_STATUSES)
    placeholders = ", ".join(["%s"] * len(free))
    bound = "" if limit is None else " LIMIT %s"
    sql = (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {accounts} a WHERE a.connection_id = {connections}.id "
        f"AND a.status NOT IN ({placeholders}){bound}) counted"
    )
    params = [*map(str, free), *([] if limit is None else [limit])]
    return queryset.annotate(quota_used=RawSQL(sql, params, output_field=IntegerField()))


def account_pending_operation(account: Account) -> Operation | None:
    """The unfinished operation of ``account`` (there is at most one), or ``None``.

    Uses ``account.pending_operations`` when a queryset prefetched it (see
    ``accounts_with_pending_operation``).
    """
    prefetched = getattr(account, "pending_operations", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return account.operations.filter(status__in=UNFINISHED_OPERATION_STATUSES).order_by("-id").first()


def accounts_with_pending_operation(queryset):
    """``queryset`` of accounts with their unfinished operation prefetched, to show (without its
    secret input)."""
    return queryset.prefetch_related(
        Prefetch(
            "operations",
            queryset=Operation.objects.filter(status__in=UNFINISHED_OPERATION_STATUSES).order_by("-id")
            .defer(*encrypted_paths(Operation)),
            to_attr="pending_operations",
        )
    )


def members_with_accounts(queryset):
    """``queryset`` of members with their accounts prefetched, to show in short (state, connection):
    without the accounts' secrets or the connections' credentials, which would be decrypted one by
    one, nor a captcha's image. Each connection is read once."""
    return queryset.prefetch_related(
        Prefetch("accounts", queryset=Account.objects.defer(*encrypted_paths(Account), "challenge_image")),
        Prefetch("accounts__connection", queryset=Connection.objects.defer(*encrypted_paths(Connection))),
    )


def batch_progress(batch: Batch) -> dict:
    """``{"total", "counts": {status: n}, "finished", "done", "percent"}`` of a batch.

    Each account counts once, by the status of its latest operation in the batch: a failed
    provisioning retried into the batch ("Retry the failed ones") counts as its new attempt.
    ``done``: accounts whose latest operation finished; ``percent``: ``done`` of ``total``.
    """
    return batches_progress([batch])[batch.pk]


def operation_is_accounts_latest(operation: Operation) -> bool:
    """Nothing was requested for ``operation``'s account since it (False for a connection's
    operation): what the account is now is what this operation left."""
    return operation.account_id is not None and not Operation.objects.filter(
        account_id=operation.account_id, pk__gt=operation.pk
    ).exists()


def operations_latest_of_their_accounts(operations) -> set[int]:
    """The ids among ``operations`` that are their account's latest (``operation_is_accounts_latest``
    of a list page's rows in one query, from the (account, id) index)."""
    accounts = {operation.account_id for operation in operations if operation.account_id}
    if not accounts:
        return set()
    latest = set(
        Operation.objects.filter(account_id__in=accounts).order_by().values("account_id")
        .annotate(latest=Max("id")).values_list("latest", flat=True)
    )
    return {operation.pk for operation in operations if operation.pk in latest}


def batch_accounts_awaiting_a_person(batch: Batch) -> dict[str, int]:
    """``{status: n}`` of the batch's accounts that wait for a person's step now (a captcha
    answer, an SMS code, an email validation): their provisioning is done, their registration is
    not. Statuses without any are left out."""
    rows = (
        Account.objects.filter(
            status__in=AWAITING_ACCOUNT_STATUSES, pk__in=Operation.objects.filter(batch=batch).values("account_id")
        )
        .order_by()
        .values("status")
        .annotate(n=Count("*"))
    )
    return {row["status"]: row["n"] for row in rows}


def batches_progress(batches) -> dict[int, dict]:
    """``{batch id: batch_progress}`` of several batches (a list page), counted by the database in
    one query whatever their size: the operations of those batches (by the batch index), the
    latest of each account's kept (an operation without an account counts alone), counted by
    batch and status. One pass and a sort (a window): no join of a batch's operations with
    themselves, which the planner would nest when a batch has just been written and its
    statistics are not taken yet."""
    from django.db import connection as db

    ids = [batch.pk for batch in batches]
    counts: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    if ids:
        sql = (
            "SELECT batch_id, status, COUNT(*) FROM (SELECT batch_id, status, ROW_NUMBER() OVER ("
            "PARTITION BY batch_id, COALESCE(account_id, -id) ORDER BY id DESC) AS latest_first "
            f"FROM {db.ops.quote_name(Operation._meta.db_table)} WHERE batch_id IN ({', '.join(['%s'] * len(ids))})"
            ") operations WHERE latest_first = 1 GROUP BY batch_id, status"
        )
        with db.cursor() as cursor:
            cursor.execute(sql, ids)
            for batch_id, status, n in cursor.fetchall():
                counts[batch_id][status] = n
    return {pk: _progress(dict(sorted(by_status.items()))) for pk, by_status in counts.items()}


def _progress(counts: dict[str, int]) -> dict:
    total = sum(counts.values())
    unfinished = sum(counts.get(status, 0) for status in UNFINISHED_OPERATION_STATUSES)
    done = total - unfinished
    return {
        "total": total,
        "counts": counts,
        "finished": unfinished == 0,
        "done": done,
        "percent": round(100 * done / total) if total else 100,
    }


def operations_count_by_status_and_kind() -> dict[tuple[str, str], int]:
    rows = Operation.objects.order_by().values("status", "kind").annotate(n=Count("id"))
    return {(row["status"], row["kind"]): row["n"] for row in rows}


def accounts_count_by_connection_and_status() -> dict[tuple[int, str], int]:
    """Read from the (connection, status) index alone; no join."""
    rows = Account.objects.order_by().values("connection_id", "status").annotate(n=Count("id"))
    return {(row["connection_id"], row["status"]): row["n"] for row in rows}


def accounts_count_by_status_and_provider(by_connection: dict[tuple[int, str], int]) -> dict[tuple[str, str], int]:
    """``accounts_count_by_connection_and_status`` summed by provider."""
    providers = dict(Connection.objects.values_list("pk", "provider"))
    counts: Counter = Counter()
    for (connection_id, status), n in by_connection.items():
        counts[(status, providers.get(connection_id, ""))] += n
    return dict(counts)


def status_class(status_code: int | None) -> str:
    """``"2xx"``...``"5xx"`` of an HTTP status; ``"none"`` when no answer came (timeout, refused)."""
    return f"{status_code // 100}xx" if status_code else "none"


def external_calls_count_by_connection_and_status_class(
    *, seconds: int = 300
) -> dict[tuple[int, str], int]:
    """``{(connection_id, "2xx"|"4xx"|...|"none"): n}`` of the calls made in the last ``seconds``."""
    since = timezone.now() - timedelta(seconds=seconds)
    rows = (
        ExternalCall.objects.filter(created_at__gte=since)
        .order_by()
        .values("connection_id", "status_code")
        .annotate(n=Count("id"))
    )
    counts: Counter = Counter()
    for row in rows:
        counts[(row["connection_id"], status_class(row["status_code"]))] += row["n"]
    return dict(counts)


def member_countries() -> list[str]:
    """The countries members live in, sorted (``member_country_idx``)."""
    return values_present(Member, "country")


def error_codes_present() -> list[str]:
    """The error codes operations carry, sorted (``operation_error_code_idx``, partial: the
    operations with an error): the admin's error filter lists these, not all it could explain."""
    return values_present(Operation, "error_code")


def values_present(model, field_name: str) -> list[str]:
    """The non-empty values of a text field across ``model``'s rows, sorted: one probe of an index
    that leads with the field per value found (a recursive "next value after this one", in
    PostgreSQL and SQLite alike), not ``SELECT DISTINCT`` over every row. The probes say
    ``<> ''``, so that an index of the non-empty values only serves them too."""
    from django.db import connection as db

    table = db.ops.quote_name(model._meta.db_table)
    column = db.ops.quote_name(model._meta.get_field(field_name).column)
    sql = (
        f"WITH RECURSIVE found(value) AS (SELECT MIN({column}) FROM {table} WHERE {column} <> '' UNION ALL "
        f"SELECT (SELECT MIN({column}) FROM {table} WHERE {column} <> '' AND {column} > found.value) "
        "FROM found WHERE found.value IS NOT NULL) "
        "SELECT value FROM found WHERE value IS NOT NULL"
    )
    with db.cursor() as cursor:
        cursor.execute(sql)
        return [value for (value,) in cursor.fetchall()]


def operations_with_calls_count(queryset):
    """``queryset`` of operations annotated with ``calls_count``: a correlated count per row
    returned (by the ``operation_id`` index), not a join grouped over every call."""
    calls = ExternalCall.objects.filter(operation=OuterRef("pk")).order_by().values("operation").annotate(n=Count("pk"))
    return queryset.annotate(calls_count=Coalesce(Subquery(calls.values("n")), 0))


def operation_is_finished(operation_id: int) -> bool:
    return Operation.objects.filter(pk=operation_id, status__in=FINISHED_OPERATION_STATUSES).exists()


def batch_is_finished(batch_id: int) -> bool:
    return not Operation.objects.filter(batch_id=batch_id, status__in=UNFINISHED_OPERATION_STATUSES).exists()


# how an exchange begins its record (``providers.http.recorded_error``) when the provider refused
# who was asking (a wrong key, a refused signature; HTTP 401 or 403, or a provider's own words for
# it, as Kandy's "invalid key" in an HTTP 200): it did nothing with the request
REFUSED_CALLER = recorded_error(ConfigurationError.code)
# accounts that exist at their provider only if a request created them (``accounts_kept``)
NOT_YET_CREATED_STATUSES = (AccountStatus.PENDING, AccountStatus.FAILED)


def accounts_kept(accounts):
    """Of ``accounts`` (a queryset), those that keep their member or connection from being
    deleted: those that may exist at their provider. A deprovisioned one does not; nor does a
    pending or failed one that nothing is running for and that
    - no request ever went out for (its provisioning was cancelled before it was sent),
    - or whose provider refused every request as coming from someone it does not know or allow
      (``REFUSED_CALLER``: a connection set up with wrong credentials), each request recorded,
      each operation tried once at most (an attempt a worker died in records no request) and
      none succeeded."""
    operations = Operation.objects.filter(account=OuterRef("pk"))
    sent = ExternalCall.objects.filter(operation__account=OuterRef("pk"))
    its_calls = ExternalCall.objects.filter(operation=OuterRef("pk"))  # of an operation of ``operations``
    idle = Q(status__in=NOT_YET_CREATED_STATUSES) & ~Exists(
        operations.filter(status__in=UNFINISHED_OPERATION_STATUSES))
    never_sent = Q(status=AccountStatus.PENDING) & ~Exists(sent)
    refused_every_time = (
        Exists(sent)
        & ~Exists(sent.exclude(error__startswith=REFUSED_CALLER))
        & ~Exists(operations.filter(Q(attempts__gt=1) | Q(status=OperationStatus.SUCCEEDED)))
        & ~Exists(operations.filter(attempts__gt=0).exclude(Exists(its_calls)))  # their records cleaned up
    )
    return accounts.exclude(status=AccountStatus.DEPROVISIONED).exclude(idle & (never_sent | refused_every_time))


# operations a request deletes with their connection at most: their exchanges and accounts go too,
# through Django's deletion, which reads every row (20,000 accounts, 100,000 operations and as many
# exchanges: 18 s on a 2-core Xeon), and a request that outlasts the server's timeout (gunicorn: 30 s)
# is cut off, its deletion rolled back
DELETE_OPERATIONS_LIMIT = 50_000


def connection_too_big_to_delete(connection: Connection) -> bool:
    """Whether ``connection`` has more than ``DELETE_OPERATIONS_LIMIT`` operations on record."""
    return bounded_count(connection.operations.all(), DELETE_OPERATIONS_LIMIT)[1]


def accounts_not_yet_created_count(accounts) -> tuple[int, bool]:
    """``bounded_count`` of the pending and failed ones of ``accounts``: where ``accounts_kept``
    keeps none of them, those go with their member or connection, though not deprovisioned."""
    return bounded_count(accounts.filter(status__in=NOT_YET_CREATED_STATUSES))


def connection_accounts_kept_counts(connection: Connection) -> tuple[dict[str, int], bool]:
    """``({status: n}, more)`` of the ``accounts_kept`` of ``connection``, reading at most
    ``COUNT_LIMIT`` of them (``more`` when there are more: the counts are then of those only)."""
    statuses = list(accounts_kept(connection.accounts.all()).order_by().values_list("status", flat=True)
                    [: COUNT_LIMIT + 1])
    return dict(Counter(statuses[:COUNT_LIMIT])), len(statuses) > COUNT_LIMIT


def member_accounts_kept(member: Member):
    """``accounts_kept`` of ``member``, with their connections, oldest first."""
    return accounts_kept(member.accounts.all()).select_related("connection").order_by("pk")


def connection_local_accounts(connection: Connection) -> list:
    """The connection's accounts with a remote id, as reconciliation compares them."""
    from .providers.drift import LocalAccount

    rows = connection.accounts.exclude(external_id="").values_list("pk", "external_id", "status", "attention")
    return [LocalAccount(*row) for row in rows]


def staff_to_notify() -> list[str]:
    """Emails of the people told about quarantines: active superusers, and active staff users
    holding ``provisioning.manage_connection`` (directly or through a group), with an email."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    User = get_user_model()
    permission = Permission.objects.filter(content_type__app_label="provisioning", codename="manage_connection")
    holders = Q(is_staff=True) & (Q(user_permissions__in=permission) | Q(groups__permissions__in=permission))
    users = User.objects.filter(Q(is_active=True) & ~Q(email="") & (Q(is_superuser=True) | holders))
    return sorted(set(users.values_list("email", flat=True)))


def clock(moment) -> str:
    """A time as staff read it on a page: ``10:42`` today, ``2026-11-30 10:42`` otherwise (UTC)."""
    if moment is None:
        return "—"
    if moment.date() == timezone.now().date():
        return f"{moment:%H:%M:%S} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def connection_quarantine_sentence(connection: Connection) -> str:
    """"SnapTrade sandbox is quarantined since 10:42 (5 calls failed in a row: …); next probe at
    10:50", or "" when the connection is not quarantined."""
    if connection.quarantined_since is None:
        return ""
    if connection.quarantine_manual:
        then = "until a person lifts it"
    elif connection.next_probe_at is not None:
        then = f"next probe at {clock(connection.next_probe_at)}"
    else:
        then = "a probe is on its way"
    return (
        f"{connection} is quarantined since {clock(connection.quarantined_since)} "
        f"({connection.quarantine_reason}); {then}"
    )


def connection_trouble_sentence(connection: Connection) -> str:
    """Why an operation requested at ``connection`` now will likely fail or wait, for the page
    that confirms it ("" when nothing says so): quarantined, or failing its health check."""
    quarantined = connection_quarantine_sentence(connection)
    if quarantined:
        return f"{quarantined}: the operation will wait until the quarantine ends."
    if connection.health_status == "error":
        detail = f" ({connection.health_detail.rstrip('.')})" if connection.health_detail else ""
        return (
            f"{connection}'s last health check failed{detail}: fix the connection first (its page says how), "
            "or this operation will likely fail the same way."
        )
    return ""


def connection_pause_sentence(connection: Connection) -> str:
    """"The provider asked for a pause (too many requests): calls resume at 10:42:05 UTC", or ""
    when the provider did not ask for one (or it has ended)."""
    if connection.paused_until is None or connection.paused_until <= timezone.now():
        return ""
    return (
        f"The provider asked for a pause (too many requests): calls resume at {clock(connection.paused_until)}; "
        "operations wait and are sent then"
    )


def operation_waiting_sentence(operation: Operation) -> str:
    """Why an unfinished operation is not running and until when, for staff ("" if it is not waiting)."""
    status = operation.status
    if status == OperationStatus.HELD:
        if operation.needs_confirmation:
            return f"Waiting for a person: {operation.hold_reason}."
        quarantined = connection_quarantine_sentence(operation.connection)
        if quarantined:
            return f"Waiting: {quarantined}."
        return f"Held: {operation.hold_reason}" if operation.hold_reason else "Held."
    if operation.next_attempt_at is None or status not in (OperationStatus.QUEUED, OperationStatus.WAITING_RETRY):
        return ""
    if status == OperationStatus.QUEUED:
        # kept back from its connection's full slots, or released from a quarantine in waves
        return (f"Queued behind other operations of its connection: it runs when one of them ends, "
                f"else from about {clock(operation.next_attempt_at)}.")
    # the last try's message, in words (its code is for those who unfold the record)
    last = f" (last try: {operation.error_message.rstrip('.')})" if operation.error_message else ""
    horizon = f"; gives up after {clock(operation.retry_deadline)}" if operation.retry_deadline else ""
    return f"Waiting to retry{last}; next try at {clock(operation.next_attempt_at)}{horizon}."


def connections_quarantined() -> dict[tuple[int, str], int]:
    """``{(connection_id, name): 1 if quarantined else 0}`` of every connection."""
    rows = Connection.objects.values_list("pk", "name", "quarantined_since")
    return {(pk, name): int(since is not None) for pk, name, since in rows}


def operations_held_by_connection() -> dict[tuple[int, str, str], int]:
    """``{(connection_id, name, "quarantine"|"confirmation"): n}`` of held operations."""
    rows = (
        Operation.objects.filter(status=OperationStatus.HELD)
        .order_by()
        .values("connection_id", "connection__name", "needs_confirmation")
        .annotate(n=Count("id"))
    )
    return {
        (row["connection_id"], row["connection__name"], "confirmation" if row["needs_confirmation"] else "quarantine"): row["n"]
        for row in rows
    }


# --- batches: what a bulk provisioning would send (one rule for the admin and the API) ----------

# members are read, checked and written this many at a time: a batch of any size holds one
# chunk of ids and tuples in memory (a few hundred KB), and costs a few queries per chunk, not
# per member; each query's parameters are a few arrays, so a bigger chunk costs no more per row
BATCH_CHUNK = 2000
# names a preview keeps of each group it summarises (the rest are counted)
BATCH_SAMPLE_NAMES = 10


@dataclass
class BatchPreview:
    """What provisioning the selected members at ``connection`` as a batch does, before anything
    is sent; ``add`` is the rule, applied to each selected member in order.

    ``create_count``: members without an account there (an account is created and provisioned).
    ``reprovision_count``: their accounts there that a provisioning may start from (pending,
    failed, deprovisioned) with no unfinished operation: provisioned again, the same account
    (``again_names``: the first few). Both count the members the quota or the provider then
    leaves out (``over_quota_count``, ``incomplete_count``). ``existing``: ``{status: n}`` of the other accounts there
    (active, awaiting a person, busy...), left alone; ``busy`` counts the provisionable ones that
    have an unfinished operation. ``quota_left``: ``None`` without a quota, else ``max_accounts``
    minus the accounts that count against it (``connection_quota_used``) minus the provisionings
    requested and not started yet (pending, failed or deprovisioned accounts with an unfinished
    provision), never below 0. ``new_count`` and ``again_count``: what is sent, never more than
    the quota allows (the first candidates); ``over_quota_count``: the candidates left out because
    of the quota (``over_quota_ids``, and once ``name_samples`` ran ``over_quota_names``: the first
    few). ``incomplete_count``: the candidates the provider cannot register as they are
    (``Provider.member_missing``: a Xhoppe member without a phone), left out; ``incomplete_reason``:
    what the first of them lacks, in a sentence; ``incomplete_ids`` (then ``incomplete_names``): the
    first few.
    """

    connection: Connection
    quota_left: int | None = None
    selected: int = 0
    create_count: int = 0
    reprovision_count: int = 0
    existing: dict = field(default_factory=dict)
    busy: int = 0
    new_count: int = 0
    again_count: int = 0
    over_quota_count: int = 0
    again_names: list = field(default_factory=list)
    over_quota_ids: list = field(default_factory=list)
    over_quota_names: list = field(default_factory=list)
    incomplete_count: int = 0
    incomplete_reason: str = ""
    incomplete_ids: list = field(default_factory=list)
    incomplete_names: list = field(default_factory=list)

    @property
    def send_count(self) -> int:
        return self.new_count + self.again_count

    @property
    def existing_count(self) -> int:
        return sum(self.existing.values())

    @property
    def left_out_count(self) -> int:
        """The selected members it does not send: over the quota, their account left alone, or
        lacking what the provider needs."""
        return self.over_quota_count + self.existing_count + self.incomplete_count

    def add(self, member_id: int, account: BatchAccount | None, missing: str = "") -> bool:
        """Count one selected member and its account there (``None``: it has none), and what the
        member lacks for the provider (``missing``, "" when nothing): whether the batch sends it.
        The names of the samples are read once, by ``name_samples``."""
        from .states import OPERATION_SPECS

        self.selected += 1
        provisionable = OPERATION_SPECS[OperationKind.PROVISION].allowed_from
        if account is not None and (account.status not in provisionable or account.busy):
            self.existing[account.status] = self.existing.get(account.status, 0) + 1
            self.busy += account.status in provisionable
            return False
        # counted by what it has there first, even when it is then left out: the preview's rows
        # read "No account there yet: 3" above "Not sent: ... cannot register them: 3", not 0
        if account is None:
            self.create_count += 1
        else:
            self.reprovision_count += 1
            _sample(self.again_names, member_id)
        if missing:
            self.incomplete_count += 1
            self.incomplete_reason = self.incomplete_reason or missing
            _sample(self.incomplete_ids, member_id)
            return False
        if self.quota_left is not None and self.send_count >= self.quota_left:
            self.over_quota_count += 1
            _sample(self.over_quota_ids, member_id)
            return False
        if account is None:
            self.new_count += 1
        else:
            self.again_count += 1
        return True

    def name_samples(self) -> None:
        """Turn the member ids ``add`` kept as samples into the members' names (one query)."""
        from .models import Member

        found = Member.objects.in_bulk([*self.again_names, *self.over_quota_ids, *self.incomplete_ids])
        self.again_names = [str(found[pk]) for pk in self.again_names if pk in found]
        self.over_quota_names = [str(found[pk]) for pk in self.over_quota_ids if pk in found]
        self.incomplete_names = [str(found[pk]) for pk in self.incomplete_ids if pk in found]


def _sample(samples: list, item) -> None:
    if len(samples) < BATCH_SAMPLE_NAMES:
        samples.append(item)


class BatchAccount(NamedTuple):
    """What a batch reads of a selected member's account at its connection."""

    pk: int
    member_id: int
    status: str
    external_id: str
    busy: bool  # it has an unfinished operation


class BatchMember(NamedTuple):
    """A selected member as a batch reads it (``batch_chunks``)."""

    member_id: int
    account: BatchAccount | None  # its account at the batch's connection
    member: Member | None  # with the provider's external_id_member_fields only; None when it reads none
    missing: str  # what it lacks for the provider (``member_missing``), "" when nothing


def connection_quota_left(connection: Connection) -> int | None:
    """How many more accounts ``connection`` may provision (``None``: no quota); see ``BatchPreview``."""
    if connection.max_accounts is None:
        return None
    in_flight = (
        connection.accounts.filter(status__in=QUOTA_FREE_ACCOUNT_STATUSES)
        .filter(operations__kind=OperationKind.PROVISION, operations__status__in=UNFINISHED_OPERATION_STATUSES)
        .distinct()
        .count()
    )
    return max(0, connection.max_accounts - connection_quota_used(connection) - in_flight)


def member_id_chunks(members, size: int | None = None):
    """The ids of the selected members, ``size`` (``BATCH_CHUNK``) at a time, each once, in order.

    ``members``: a queryset (by primary key: its ids are read in one query, 8 bytes each, so
    that a search or a filter runs once) or a list of members or member ids (in the list's
    order; unknown ids are skipped, a query per chunk).
    """
    from django.db.models import QuerySet

    from .bulk import IdList
    from .models import Member

    size = size or BATCH_CHUNK
    if isinstance(members, QuerySet):
        ids = array("q", members.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=4 * size))
        for start in range(0, len(ids), size):
            yield ids[start:start + size].tolist()
        return
    ids = array("q", dict.fromkeys(getattr(member, "pk", member) for member in members))
    for start in range(0, len(ids), size):
        part = ids[start:start + size].tolist()
        found = set(Member.objects.filter(pk__in=IdList(part)).order_by().values_list("pk", flat=True))
        yield [pk for pk in part if pk in found]


def batch_chunks(connection: Connection, members, *, lock: bool = False):
    """``[BatchMember]`` chunk by chunk: each selected member with its account at ``connection``
    and what it lacks for the provider; ``lock``: the accounts are locked until the transaction
    ends. One or two queries a chunk, and tuples; where the provider reads members' fields
    (``external_id_member_fields``), one more, and the members with those fields only."""
    from .bulk import IdList
    from .providers import registry

    provider = registry.all_providers().get(connection.provider)
    fields = provider.external_id_member_fields if provider is not None else ()
    unfinished = Operation.objects.filter(account=OuterRef("pk"), status__in=UNFINISHED_OPERATION_STATUSES)
    for chunk in member_id_chunks(members):
        accounts = connection.accounts.filter(member_id__in=IdList(chunk)).annotate(busy=Exists(unfinished))
        if lock:
            accounts = accounts.select_for_update(of=("self",))
        found = {
            account.member_id: account
            for account in map(BatchAccount._make, accounts.order_by().values_list(*BatchAccount._fields))
        }
        read = {}
        if fields:  # what member_missing and external_id_for read, and no more
            read = {member.pk: member for member in Member.objects.only(*fields).filter(pk__in=IdList(chunk)).order_by()}
        yield [
            BatchMember(member_id, found.get(member_id), read.get(member_id),
                        provider.member_missing(read[member_id]) if member_id in read else "")
            for member_id in chunk
        ]


def batch_preview(connection: Connection, members) -> BatchPreview:
    """What ``services.batch_create`` would send for ``members`` at ``connection`` (see ``BatchPreview``)."""
    preview = BatchPreview(connection=connection, quota_left=connection_quota_left(connection))
    for chunk in batch_chunks(connection, members):
        for entry in chunk:
            preview.add(entry.member_id, entry.account, entry.missing)
    preview.name_samples()
    return preview
