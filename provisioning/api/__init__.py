"""The REST API: DRF viewsets over ``services``, under ``/api/v1/``.

Layout: ``urls`` (router, ``/api/schema/``, ``/api/docs/``), ``views/`` (one module per
resource, all on ``views.base.ApiViewSet``), ``serializers/``, ``account_actions`` (the table of
account actions -> operation kinds), ``permissions``, ``exceptions`` (one error shape),
``idempotency``, ``waiting`` (``?wait=``), ``filters``, ``pagination``, ``schema`` (what the
OpenAPI document says about every operation), ``probes`` (``/readyz``, ``/metrics``).

Choices made where the contract leaves room (clients may rely on them):

- Every error body is ``{"detail", "code"}``, except 400s about fields (``{"field": [...]}``).
- Input is strict JSON: no coercion of ``"1"`` to ``1`` or ``1`` to ``"1"``; ``null`` only where
  documented; NUL characters are refused; a typed query filter given empty (``?status=``) is a
  400; ids are whole numbers from 1 (a malformed id in a path is a 404).
- Connection ``PATCH`` merges ``credentials`` into the stored ones (``null`` removes a key); the
  result must still satisfy the provider. The provider of a connection cannot change.
- Account action bodies: ``verify`` ``{"code"}``, ``captcha`` ``{"answer"}``, ``validate``
  ``{"validation_id", "token"}`` (codes, answers and tokens go to the operation's encrypted
  ``secret_input``), ``login-link`` SnapTrade's own option names (``connectionType``...).
- ``POST /operations/{id}/cancel/`` is synchronous (200 with the cancelled operation); retrying
  creates a new operation (202). Both need the permission the operation's kind needs.
- ``Idempotency-Key``: see ``idempotency`` (409 and 429 answers are not stored; a concurrent
  duplicate gets 409 ``idempotency_key_in_use``).
- Lists: ``?page=`` and ``?page_size=`` (1-200); the accounts and operations, which grow without
  bound, by ``?cursor=`` instead, newest (highest id) first (``pagination``).
"""
