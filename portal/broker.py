"""The ``make run`` stack's broker: kombu's filesystem transport, each message written whole.

kombu's filesystem transport (5.7) opens a message's file under its final name and only then
writes it. A consumer that lists the folder in between takes the empty file, fails to decode it,
and the worker stops ("Unrecoverable error: JSONDecodeError"); its queued messages wait until
something starts it again (kombu issue 1551, open). The portal's workers send messages while they
consume them (a batch's chunks, a capped connection's waiting groups), so under load it happened
within minutes.

Here a message is written under a name no consumer looks at (it starts with a dot) and then
renamed to its final name in the same folder. A rename within a folder is atomic: a consumer sees
the whole message or none.

``serve_broker_urls`` (called by ``portal.celery``) makes it the transport of ``filesystem://``
URLs, and ``portal.redis_broker``'s the one of Redis URLs; kombu imports each only when a URL of
its scheme is used.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written aside, then renamed into place."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def serve_broker_urls() -> None:
    """Make the portal's transports the ones of ``filesystem://`` and Redis broker URLs, in this
    process (by name: nothing is imported here)."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
    TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "portal.redis_broker:Transport"
