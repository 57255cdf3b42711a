"""A connection's HTTP session takes the environment's proxy settings for the connection's address
when it is made, and requests does not read the environment again on each request."""

import requests

from provisioning.models import Connection
from provisioning.providers.http import connection_session


def session_for(base_url, monkeypatch, **environment):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return connection_session(Connection(provider="snaptrade", name="c", base_url=base_url))


def test_a_proxy_of_the_environment_is_used(monkeypatch):
    session = session_for("https://api.provider.test", monkeypatch, HTTPS_PROXY="http://proxy.internal:3128")

    assert session.proxies.get("https") == "http://proxy.internal:3128"
    assert session.trust_env is False  # not looked up again per request


def test_an_address_the_environment_exempts_goes_direct(monkeypatch):
    session = session_for("https://api.provider.test", monkeypatch, HTTPS_PROXY="http://proxy.internal:3128",
                          NO_PROXY="provider.test")

    assert session.proxies == {}


def test_the_proxy_is_what_a_request_goes_through(monkeypatch):
    session = session_for("https://api.provider.test", monkeypatch, HTTPS_PROXY="http://proxy.internal:3128")
    prepared = session.prepare_request(requests.Request("GET", "https://api.provider.test/x"))

    assert requests.utils.resolve_proxies(prepared, session.proxies, session.trust_env) == {
        "https": "http://proxy.internal:3128"}
