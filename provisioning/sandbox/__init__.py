"""Faithful simulators of the provider APIs, served as their own process (see core.py to add one).

Standalone: imports neither Django nor the rest of ``provisioning``.
"""
