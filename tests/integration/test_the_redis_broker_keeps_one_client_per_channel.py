"""The Redis broker's channels keep one client object (``portal.redis_broker``): kombu's made one for
every message sent and every acknowledgement, over the same pool. Messages still arrive whole and
once, and a channel whose pool is made again (after a fork) gets a client over the new pool. And a
channel closed after its connection was released (a worker that lost Redis) does not stop the
worker."""

import os

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from portal import redis_broker

pytestmark = pytest.mark.integration

MESSAGES = 20


def clients_made_while_sending_and_acknowledging(channel_class, monkeypatch) -> tuple[int, list]:
    """Send ``MESSAGES`` through a channel of ``channel_class`` and take and acknowledge them; how
    many synchronous clients it made meanwhile, and the bodies received."""
    made = []  # kept: a client freed could give its id to the next
    queue = Queue("portal-broker-test", Exchange("portal-broker-test"), routing_key="portal-broker-test")
    with Connection(os.environ["REDIS_URL"], transport_options={"visibility_timeout": 60}) as connection:
        channel = connection.default_channel
        assert type(channel) is channel_class
        bound = queue(channel)
        bound.declare()
        bound.purge()
        create = channel._create_client

        def counted(asynchronous=False):
            client = create(asynchronous)
            if not asynchronous:
                made.append(client)
            return client

        monkeypatch.setattr(channel, "_create_client", counted)
        producer = connection.Producer(channel)
        for n in range(MESSAGES):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue.routing_key)
        received = []
        while (message := bound.get()) is not None:
            received.append(message.payload["n"])
            message.ack()
        bound.delete()
    distinct = {id(client) for client in made}
    return len(distinct), received


def test_a_channel_sends_and_acknowledges_with_one_client(monkeypatch):
    clients, received = clients_made_while_sending_and_acknowledging(redis_broker.Channel, monkeypatch)

    assert sorted(received) == list(range(MESSAGES))
    assert clients == 1


def test_kombus_own_channel_makes_a_client_for_each_send_and_acknowledgement(monkeypatch):
    """What the subclass is for: when kombu keeps its client, this fails, and the class can go."""
    monkeypatch.setattr(redis_broker.Transport, "Channel", kombu_redis.Channel)

    clients, received = clients_made_while_sending_and_acknowledging(kombu_redis.Channel, monkeypatch)

    assert sorted(received) == list(range(MESSAGES))
    assert clients >= 2 * MESSAGES


def test_a_channel_whose_pool_is_made_again_gets_a_client_over_it():
    with Connection(os.environ["REDIS_URL"]) as connection:
        channel = connection.default_channel
        before = channel._create_client()
        assert channel._create_client() is before

        channel._after_fork()  # as in a forked child: the pools are dropped and made again

        after = channel._create_client()
        assert after is not before and after.connection_pool is channel.pool
        assert after.ping()


def test_a_channel_closed_after_its_connection_was_released_does_not_stop_the_worker():
    """The state a worker was found in after Redis went away (its log: AttributeError: 'NoneType'
    object has no attribute 'hostname', then the worker stopped): a message taken and not
    acknowledged, the channel's pools dropped, the connection released. Closing the channel gives
    the message back through a new pool; it must fail as a connection error, which the close
    ignores, not as an AttributeError."""
    queue = Queue("portal-broker-released", Exchange("portal-broker-released"), routing_key="portal-broker-released")
    connection = Connection(os.environ["REDIS_URL"], transport_options={"visibility_timeout": 60})
    channel = connection.default_channel
    bound = queue(channel)
    bound.declare()
    bound.purge()
    connection.Producer(channel).publish({"n": 1}, exchange=queue.exchange, routing_key=queue.routing_key)
    assert bound.get() is not None  # taken, not acknowledged: closing gives it back
    channel._disconnect_pools()
    channel.connection.client = None  # released

    connection.maybe_close_channel(channel)  # raised AttributeError with kombu's channel

    with Connection(os.environ["REDIS_URL"]) as cleanup:
        queue(cleanup.default_channel).delete()
