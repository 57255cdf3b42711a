# a moment on a page (change pages' dates, an account's history): see portal/formats/__init__.py
DATETIME_FORMAT = "Y-m-d H:i:s T"
