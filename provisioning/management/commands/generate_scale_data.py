"""``manage.py generate_scale_data [--accounts N]``: a large, realistic data set for measuring the
admin and the API at scale (PostgreSQL only).

For N accounts (default 1,000,000) it writes, with ``INSERT ... SELECT`` over ``generate_series``
in one transaction: N/2 members (two accounts each, at two of the connections), ten connections
of the installed providers, 5 operations per account (the first a provisioning, in batches of
200), 2 external calls for every 5 operations. Statuses, kinds, errors and dates (a year) are
spread as a busy installation would have them; every row is valid (the admin opens it).

Idempotent as far as it can be: when the data set is there (its first member exists) it does
nothing; a database holding another data set (members with ``scale-`` references but not this
one) is refused rather than mixed. Rows are numbered after the existing ones, so a database with
other data keeps it. Ends with ``VACUUM ANALYZE`` of the tables it filled.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection as db
from django.db import transaction

from ...models import Account, Batch, Connection, ExternalCall, Member, Operation
from ...providers import registry

REF_PREFIX = "scale-"
CONNECTIONS = 10
ACCOUNTS_PER_MEMBER = 2
OPERATIONS_PER_ACCOUNT = 5
BATCH_SIZE = 200
DAYS = 365

# a pseudo-random number 0..99 from an integer column (Knuth's multiplicative hash)
PCT = "((({x})::bigint * 2654435761) % 4294967296 % 100)"


def pct(expression: str) -> str:
    return PCT.format(x=expression)


def spread(expression: str, choices: list[tuple[str, int]]) -> str:
    """A ``CASE`` picking ``choices`` (SQL literal, percent) by the hash of ``expression``."""
    assert sum(p for _, p in choices) == 100, choices
    parts, edge = [], 0
    for literal, percent in choices[:-1]:
        edge += percent
        parts.append(f"WHEN {pct(expression)} < {edge} THEN {literal}")
    return f"(CASE {' '.join(parts)} ELSE {choices[-1][0]} END)"


ACCOUNT_STATUS = [
    ("'active'", 70), ("'deprovisioned'", 8), ("'pending'", 5), ("'failed'", 5), ("'provisioning'", 3),
    ("'awaiting_captcha'", 2), ("'awaiting_verification'", 2), ("'awaiting_validation'", 2),
    ("'deprovisioning'", 3),
]
LATER_KINDS = [
    ("'sync'", 40), ("'login_link'", 25), ("'rotate_secret'", 15), ("'reset_password'", 10), ("'deprovision'", 10),
]
FINISHED_STATUS = [("'succeeded'", 92), ("'failed'", 7), ("'cancelled'", 1)]
# the newest operation of an account may be unfinished (at most one per account)
NEWEST_STATUS = [
    ("'succeeded'", 90), ("'failed'", 5), ("'queued'", 2), ("'waiting_retry'", 1), ("'running'", 1), ("'held'", 1),
]
ERROR_CODES = [
    ("'quota_exceeded'", 30), ("'invalid_input'", 25), ("'already_exists'", 20), ("'provider_unavailable'", 15),
    ("'authentication_failed'", 10),
]
FIRST_NAMES = "ARRAY['Ada','Bao','Chloé','Dmitri','Esther','Farid','Grace','Hiro','Ines','Jonas','Kemi','Lin']"
LAST_NAMES = "ARRAY['Tan','Martin','Okafor','Ivanova','Garcia','Nguyen','Smith','Haddad','Sato','Rossi','Kim']"
COUNTRIES = "ARRAY['SG','FR','US','DE','GB','JP','NG','BR','IN','AU']"


class Command(BaseCommand):
    help = "Generate the scale data set (default: 1,000,000 accounts, 5,000,000 operations) on PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=1_000_000, help="accounts to create (even; default 1,000,000)")

    def handle(self, *args, accounts: int, **options):
        if db.vendor != "postgresql":
            raise CommandError("generate_scale_data needs PostgreSQL (generate_series): set DATABASE_URL.")
        if accounts < ACCOUNTS_PER_MEMBER or accounts % ACCOUNTS_PER_MEMBER:
            raise CommandError(f"--accounts must be an even number of at least {ACCOUNTS_PER_MEMBER}.")
        members = accounts // ACCOUNTS_PER_MEMBER
        mine = Member.objects.filter(external_ref=f"{REF_PREFIX}{accounts}-1")
        if mine.exists():
            self.stdout.write(f"The data set of {accounts:,} accounts is there already: nothing to do.")
            return
        if Member.objects.filter(external_ref__startswith=REF_PREFIX).exists():
            raise CommandError("Another scale data set is in this database: use a fresh database.")
        started = time.monotonic()
        with transaction.atomic():
            connection_ids = self.connections()
            self.fill(accounts, members, connection_ids)
        self.stdout.write(f"Written in {time.monotonic() - started:.0f} s; analysing...")
        for model in (Member, Account, Batch, Operation, ExternalCall):
            with db.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {db.ops.quote_name(model._meta.db_table)}")
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - started:.0f} s."))

    def connections(self) -> list[int]:
        kinds = sorted(registry.all_providers())
        ids = []
        for i in range(CONNECTIONS):
            kind = kinds[i % len(kinds)]
            connection, _ = Connection.objects.get_or_create(
                name=f"Scale {i + 1:02d} ({kind})",
                defaults={"provider": kind, "base_url": f"https://scale-{i + 1}.example.org", "credentials": {"client_id": "scale"}},
            )
            ids.append(connection.pk)
        return ids

    def step(self, what: str, sql: str) -> None:
        clock = time.monotonic()
        with db.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.rowcount
        self.stdout.write(f"  {what}: {rows:,} rows in {time.monotonic() - clock:.1f} s")

    def fill(self, accounts: int, members: int, connection_ids: list[int]) -> None:
        table = {model: db.ops.quote_name(model._meta.db_table) for model in (Member, Account, Batch, Operation, ExternalCall)}
        base = {}
        with db.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            for model, name in table.items():
                cursor.execute(f"LOCK TABLE {name} IN EXCLUSIVE MODE")
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {name}")
                base[model] = cursor.fetchone()[0]
        operations = accounts * OPERATIONS_PER_ACCOUNT
        batches = -(-accounts // BATCH_SIZE)
        conns = "ARRAY[" + ",".join(map(str, connection_ids)) + "]::bigint[]"
        # a year back, members (and their accounts) created evenly up to 30 days ago; member i has
        # accounts 2i - 1 and 2i (below), if there are that many
        start = f"now() - interval '{DAYS} days'"
        member_at = f"{start} + (i::float8 / {members}) * interval '{DAYS - 30} days'"
        self.step(
            "members",
            f"""INSERT INTO {table[Member]} (id, external_ref, email, phone, first_name, last_name, country, created_at,
                   updated_at, has_accounts)
            SELECT {base[Member]} + i, '{REF_PREFIX}{accounts}-' || i, 'member' || i || '@scale.example.org',
                   '+659' || lpad(i::text, 7, '0'), ({FIRST_NAMES})[1 + i % 12], ({LAST_NAMES})[1 + i % 11],
                   ({COUNTRIES})[1 + i % 10], {member_at}, {member_at}, 2 * i - 1 <= {accounts}
            FROM generate_series(1, {members}) i""",
        )
        # account j: member (j + 1) / 2, at two different connections per member
        j_member = "((j + 1) / 2)"
        status = spread("j", ACCOUNT_STATUS)
        self.step(
            "accounts",
            f"""INSERT INTO {table[Account]} (id, member_id, connection_id, status, external_id, details, secrets,
                   last_error, attention, created_at, updated_at)
            SELECT {base[Account]} + j, {base[Member]} + {j_member},
                   ({conns})[1 + ({j_member} + j % 2) % {CONNECTIONS}],
                   s.status,
                   CASE WHEN s.status IN ('pending', 'failed', 'provisioning') THEN '' ELSE 'ext-' || j END,
                   '{{}}'::jsonb, '',
                   CASE WHEN s.status = 'failed' THEN '{{"code": "quota_exceeded", "message": "The quota is full."}}'::jsonb END,
                   CASE WHEN j % 500 = 0 THEN 'Drift: the account is missing at the provider.' ELSE '' END,
                   m.created_at, m.created_at + interval '1 hour' * (j % 700)
            FROM generate_series(1, {accounts}) j
            CROSS JOIN LATERAL (SELECT {status} AS status) s
            JOIN {table[Member]} m ON m.id = {base[Member]} + {j_member}""",
        )
        self.step(
            "batches",
            f"""INSERT INTO {table[Batch]} (id, connection_id, requested_by, left_out, created_at)
            SELECT {base[Batch]} + b, ({conns})[1 + b % {CONNECTIONS}], 'admin:scale', '{{}}',
                   {start} + ((b - 1)::float8 * {BATCH_SIZE} / {accounts}) * interval '{DAYS - 30} days'
            FROM generate_series(1, {batches}) b""",
        )
        # operation (r, account a): r = 0 the provisioning (in a batch), later ones every ~6 days
        finished = spread("o.n", FINISHED_STATUS)
        newest = spread("o.n", NEWEST_STATUS)
        op_status = f"CASE WHEN o.r = {OPERATIONS_PER_ACCOUNT - 1} THEN {newest} ELSE {finished} END"
        kind = f"CASE WHEN o.r = 0 THEN 'provision' ELSE {spread('o.n + 7', LATER_KINDS)} END"
        error_code = spread("o.n + 3", ERROR_CODES)
        self.step(
            "operations",
            f"""INSERT INTO {table[Operation]} (id, kind, status, account_id, connection_id, batch_id, input, secret_input,
                   result, attempts, max_attempts, next_attempt_at, retry_deadline, hold_reason, held_since,
                   needs_confirmation, confirmed_by, probe, lease_expires_at, dispatched_at, prior_account_status,
                   error_code, error_message, error_retryable, requested_by, requested_by_user_id,
                   created_at, updated_at, started_at, finished_at)
            SELECT {base[Operation]} + o.n, x.kind, x.status, a.id, a.connection_id,
                   CASE WHEN o.r = 0 THEN {base[Batch]} + 1 + (a.id - {base[Account]} - 1) / {BATCH_SIZE} END,
                   '{{}}'::jsonb, '', '{{}}'::jsonb, 1, 100,
                   CASE WHEN x.status IN ('queued', 'waiting_retry') THEN now() + interval '5 minutes' END,
                   CASE WHEN x.status = 'waiting_retry' THEN now() + interval '1 day' END,
                   CASE WHEN x.status = 'held' THEN 'The connection is quarantined.' ELSE '' END,
                   CASE WHEN x.status = 'held' THEN now() END,
                   false, '', false,
                   CASE WHEN x.status = 'running' THEN now() + interval '5 minutes' END,
                   CASE WHEN x.status <> 'queued' THEN x.at END, '',
                   CASE WHEN x.status = 'failed' THEN {error_code} ELSE '' END,
                   CASE WHEN x.status = 'failed' THEN 'The provider refused it.' ELSE '' END,
                   CASE WHEN x.status = 'failed' THEN false END,
                   CASE WHEN o.r = 0 THEN 'admin:scale' ELSE 'api:scale' END, NULL,
                   x.at, x.at + interval '2 seconds',
                   CASE WHEN x.status NOT IN ('queued', 'held') THEN x.at + interval '1 second' END,
                   CASE WHEN x.status IN ('succeeded', 'failed', 'cancelled') THEN x.at + interval '2 seconds' END
            FROM (SELECT r, a, r * {accounts} + a AS n FROM generate_series(0, {OPERATIONS_PER_ACCOUNT - 1}) r,
                  generate_series(1, {accounts}) a) o
            JOIN {table[Account]} a ON a.id = {base[Account]} + o.a
            CROSS JOIN LATERAL (SELECT {kind} AS kind, {op_status} AS status,
                                       LEAST(a.created_at + o.r * interval '6 days' + (o.n % 86400) * interval '1 second',
                                             now() - interval '1 minute') AS at) x""",
        )
        self.step(
            "external calls",
            f"""INSERT INTO {table[ExternalCall]} (operation_id, connection_id, attempt, method, url, request_headers,
                   request_body, status_code, response_body, duration_ms, provider_request_id, error, created_at)
            SELECT o.id, o.connection_id, 1, CASE WHEN o.kind = 'sync' THEN 'GET' ELSE 'POST' END,
                   'https://provider.example.org/api/' || o.kind || '/' || o.id, '{{}}'::jsonb, '',
                   CASE WHEN o.status = 'failed' THEN 422 WHEN o.status = 'queued' THEN NULL ELSE 200 END,
                   '{{"ok": true}}', 40 + o.id % 300, 'req-' || o.id,
                   CASE WHEN o.status = 'queued' THEN 'connection refused' ELSE '' END,
                   o.created_at + interval '1 second'
            FROM {table[Operation]} o
            WHERE o.id > {base[Operation]} AND o.id % 5 IN (0, 2)
            ORDER BY o.id""",
        )
        with db.cursor() as cursor:
            for model, name in table.items():
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{model._meta.db_table}', 'id'), (SELECT MAX(id) FROM {name}))"
                )
