"""Object ids as the API accepts them: whole numbers from 1 to the largest 64-bit integer.

Anything else (a float, a negative number, a number the database cannot hold) names no
object: a path gets a 404, a filter or a body field a 400, never a database error.
"""

import re

MAX_ID = 2**63 - 1
_ID = re.compile(r"^[0-9]{1,19}$")


def parse_id(value) -> int | None:
    """``value`` as an id, or ``None`` when it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ID.match(value):
        number = int(value)
    else:
        return None
    return number if 1 <= number <= MAX_ID else None
