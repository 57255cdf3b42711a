"""``?wait=N``: answer once the work finished, or after N seconds, whichever comes first."""

import time

from rest_framework import serializers

from .schema import MAX_WAIT_SECONDS

POLL_INTERVAL_SECONDS = 0.2


class WaitSerializer(serializers.Serializer):
    wait = serializers.IntegerField(min_value=0, max_value=MAX_WAIT_SECONDS, required=False)


def requested_wait(request) -> int | None:
    """The validated ``?wait=`` of ``request`` (``None`` when absent); a bad value is a 400."""
    serializer = WaitSerializer(data={k: v for k, v in request.query_params.items() if k == "wait"})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data.get("wait")


def wait_until(is_done, seconds: float) -> bool:
    """Poll ``is_done()`` (a database read) until it is true or ``seconds`` ran out."""
    deadline = time.monotonic() + seconds
    while True:
        if is_done():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(POLL_INTERVAL_SECONDS, remaining))
