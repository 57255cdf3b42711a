"""The tasks of many operations are sent to Redis in one batch: every one of them arrives, once."""

import base64
import json
import os

import pytest
import redis

from provisioning import services

pytestmark = pytest.mark.integration


def queued_operation_ids() -> list[int]:
    """The operation ids of the ``operations_execute`` messages waiting in the default queue."""
    with redis.Redis.from_url(os.environ["REDIS_URL"]) as client:
        messages = client.lrange("celery", 0, -1)
    ids = []
    for raw in messages:
        message = json.loads(raw)
        assert message["headers"]["task"] == "provisioning.tasks.operations_execute"
        (group,), _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        ids.extend(group)
    return ids


@pytest.mark.django_db  # the dispatch looks for capped connections: these ids have none (no rows)
def test_every_operation_of_a_dispatch_chunk_reaches_redis_once():
    ids = list(range(1, 1201))  # more than one pipeline's worth

    services.operations_dispatch(operation_ids=ids)

    assert sorted(queued_operation_ids()) == ids
