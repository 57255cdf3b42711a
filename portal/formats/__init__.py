"""How the admin writes a moment: one format everywhere, in UTC ("2026-12-04 05:23:10 UTC").

Django's English default ("Dec. 4, 2026, 5:23 a.m.") read unlike the portal's lists and its
providers' details; ``FORMAT_MODULE_PATH`` points here, and what is not set here stays Django's.
"""
