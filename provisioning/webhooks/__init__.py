"""Webhooks: the network side of outbound deliveries (``net``); services live in ``services/``."""
