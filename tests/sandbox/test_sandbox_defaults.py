"""Demo credentials come from the environment, with fixed non-secret defaults."""

from provisioning.sandbox.defaults import sandbox_credentials, sandbox_url
from provisioning.sandbox.snaptrade import SnapTradeSimulator


def test_defaults_without_environment(monkeypatch):
    for name in ("SANDBOX_SNAPTRADE_CLIENT_ID", "SANDBOX_SNAPTRADE_CONSUMER_KEY", "SANDBOX_URL"):
        monkeypatch.delenv(name, raising=False)
    assert sandbox_credentials()["snaptrade"] == {"client_id": "PORTAL-SANDBOX", "consumer_key": "sandbox-consumer-key"}
    assert sandbox_url() == "http://127.0.0.1:8001"


def test_environment_overrides_and_simulator_uses_them(monkeypatch):
    monkeypatch.setenv("SANDBOX_SNAPTRADE_CLIENT_ID", "MY-CLIENT")
    monkeypatch.setenv("SANDBOX_SNAPTRADE_CONSUMER_KEY", "my-key")
    monkeypatch.setenv("SANDBOX_URL", "http://sandbox.local:9000/")
    assert sandbox_credentials()["snaptrade"] == {"client_id": "MY-CLIENT", "consumer_key": "my-key"}
    assert sandbox_url() == "http://sandbox.local:9000"
    simulator = SnapTradeSimulator()
    assert (simulator.settings["client_id"], simulator.settings["consumer_key"]) == ("MY-CLIENT", "my-key")
