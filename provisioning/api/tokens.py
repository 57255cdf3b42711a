"""API tokens kept as a digest, not as the key itself.

DRF keeps a token's key as it is, the table's primary key: whoever reads the database (a backup,
a replica, a dump for a bug report) could call the API as each token's owner. Here a token's row
holds the SHA-256 of its key (its first 40 hexadecimal digits: the column's size, 160 bits), and
the key exists only in the request that makes it, shown once (the admin's message, the
``drf_create_token`` command). A key is 160 random bits (DRF's ``generate_key``), so a fast
digest without salt is enough: there is nothing to guess from a dictionary.

Every token made through Django is digested as it is first saved (``digest_new_token``, a
``pre_save`` receiver connected by ``ProvisioningConfig.ready`` for DRF's token and its proxies),
which leaves the key on the object as ``plain_key``; ``api.authentication.DigestTokenAuthentication``
digests the key a request carries before looking it up. Migration ``0031`` digested the tokens
made before.
"""

from __future__ import annotations

import hashlib


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def digest_new_token(sender, instance, raw=False, **kwargs):
    """A token being made is saved as the digest of its key (DRF's ``Token.save`` has made the
    key by then); the key stays on the object as ``plain_key``, to be shown once."""
    if raw or not instance._state.adding:
        return
    instance.plain_key = instance.key
    instance.key = digest(instance.key)

