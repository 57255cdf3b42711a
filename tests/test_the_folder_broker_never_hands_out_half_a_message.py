"""The ``make run`` broker (a folder) under a producer and a consumer at once: every message
arrives whole, once. kombu's own filesystem transport let a consumer take a message's file before
it was written, and the worker stopped on the empty JSON (``portal.broker``)."""

import multiprocessing
import time

from kombu import Connection
from kombu.transport import filesystem

from portal import broker

MESSAGES = 200
WRITING = 0.01  # seconds between a message's file being made and its content written


def channel(transport, folder):
    queue = folder / "queue"
    queue.mkdir(exist_ok=True)
    connection = Connection(transport=transport, transport_options={
        "data_folder_in": str(queue), "data_folder_out": str(queue), "store_processed": False})
    return connection, connection.default_channel


def received_while_sent(transport, folder) -> tuple[list, list]:
    """Send ``MESSAGES`` from another process (as the web, beat or another worker does) while
    this one takes them; (what arrived, what broke)."""
    sender = multiprocessing.get_context("fork").Process(target=send, args=(transport, folder))
    receiver_connection, receiver = channel(transport, folder)
    received, broken = [], []
    sender.start()
    while len(received) < MESSAGES and not broken:
        try:
            received.append(receiver._get("work")["body"])
        except filesystem.Empty:
            if not sender.is_alive() and receiver._size("work") == 0:
                break
        except ValueError as exc:  # the empty file: JSONDecodeError
            broken.append(exc)
    sender.join()
    receiver_connection.release()
    return received, broken


def send(transport, folder):
    """As a producer thread of a busy worker does, waiting for the GIL between the file and its
    content: the moment stretched, at the same place in both transports (encoding the body)."""
    for module in (filesystem, broker):
        module.dumps = slowly(module.dumps)
    connection, sender = channel(transport, folder)
    for number in range(MESSAGES):
        sender._put("work", {"body": number})
    connection.release()


def slowly(dumps):
    def dumps_slowly(payload):
        time.sleep(WRITING)
        return dumps(payload)
    return dumps_slowly


def test_every_message_arrives_whole_and_once_while_more_are_written(tmp_path):
    received, broken = received_while_sent(broker.Transport, tmp_path)
    assert broken == []
    assert sorted(received) == list(range(MESSAGES))


def test_kombus_own_transport_still_hands_out_half_written_messages(tmp_path):
    """The reason for ``portal.broker``: when this fails, kombu has fixed it, and it can go."""
    _, broken = received_while_sent(filesystem.Transport, tmp_path)
    assert broken
