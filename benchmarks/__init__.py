"""Benchmarks of the portal: ``python -m benchmarks [--quick]`` (or ``make bench``).

They measure and print; they assert nothing and are not part of ``make test``. Every process
they start (sandbox, Celery workers, throwaway PostgreSQL and Redis) runs on loopback with its
own temporary database, broker folder and keys, and is stopped by its PID.

- ``enqueue``: one batch of 10,000 members through the API and through the admin, on PostgreSQL +
  Redis: time to commit and dispatch it, and peak memory.
- ``micro``: request signing, redaction and Fernet encryption, timeit-style.
- ``pipeline``: provisionings requested through the services, run by a real worker against the
  real sandbox; also how the sandbox's latency and a connection's ``max_concurrency`` bound
  throughput.
- ``outage`` (``python -m benchmarks --outage``): a provider outage (every request answered 503
  for a while) during a backlog of provisionings: requests it costs the provider, time to
  recover, accounts lost and duplicated.
"""
