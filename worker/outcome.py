"""What an in-page wait or run ended with: the names the engine and its JavaScript share.

The scripts receive these names as data (``const OUTCOME`` is generated from this enum
and prepended to them, see ``scripts.py``), never as string literals of their own.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"                      # the operations ran / the awaited condition holds
    TIMEOUT = "timeout"            # the deadline passed first
    SCRIPT_ERROR = "script_error"  # a profile's JavaScript (or an operation) threw
    CROSS_ORIGIN = "cross_origin"  # a frame to read is cross-origin: switch with WebDriver
    # the page's states, as the profile's conditions recognise them
    ERROR_PAGE = "error_page"      # profile.error_page
    LOGGED_OUT = "logged_out"      # profile.logged_out: the site's session expired
    LOGGED_IN = "logged_in"        # login.success
    LOGIN_REFUSED = "login_refused"  # login.failure
    LOGIN_FORM = "login_form"      # the login page is ready for its steps
    FOUND = "found"                # search.success: the OS page has loaded
    NOT_FOUND = "not_found"        # search.not_found
