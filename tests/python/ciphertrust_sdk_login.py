#!/usr/bin/env python3
"""Keyward compatibility check with the unmodified PyPI `ciphertrust-sdk` (1.0.17).

Env: KEYWARD_URL (e.g. https://127.0.0.1:8443), KEYWARD_USER, KEYWARD_PASSWORD,
     KEYWARD_CA_CERT (PEM of the server's self-signed certificate; it must carry a
     subjectAltName for the host in KEYWARD_URL, e.g. IP:127.0.0.1).

Steps: password login -> refresh via the SDK's refresh_token grant -> GET /api/v1/usermgmt/users.
Prints "ciphertrust-sdk: 1 passed, 0 failed" and exits 0, or prints the reason and exits 1.
"""
import json
import os
import sys


class Failure(Exception):
    pass


def check(ok, reason):
    if not ok:
        raise Failure(reason)


def main():
    base = os.environ["KEYWARD_URL"].rstrip("/")
    ca_cert = os.environ["KEYWARD_CA_CERT"]

    from ciphertrust import config
    from ciphertrust.api import API

    # The SDK builds every URL as "https://{hostname}/api/v1/..." (ciphertrust/config.py) and
    # rejects any hostname that is not a DNS name -- no IP address, no ":port"
    # (models.AuthParams.__post_init__ -> utils.validate_domain). To reach an IP:port we point
    # its URL templates (plain strings on the config object) at KEYWARD_URL; the request logic
    # is untouched. The hostname below then only passes validation and appears in log lines.
    config.AUTH = base + "/api/v1/auth/tokens"
    config.API_URL = base + "/api/v1/{1}"  # formatted with (hostname, url_path)

    # verify= is passed straight to requests: a CA bundle path (used here) or False.
    # The constructor performs the password login (POST /api/v1/auth/tokens) and never raises
    # on HTTP errors: it leaves auth.message empty and an error response in auth.response.
    api = API(hostname="keyward.local", username=os.environ["KEYWARD_USER"],
              password=os.environ["KEYWARD_PASSWORD"], verify=ca_cert)
    auth = api.auth
    check(auth.message == "Generated Auth Token",
          f"password login failed: HTTP {auth.response.status_code}: {auth.response.text}")
    first_jwt = auth.token
    check(first_jwt, "password login returned an empty jwt")

    # The SDK's own refresh path (what the refresh decorator calls once the JWT `exp` minus
    # 15 s has passed). Note: 1.0.17 first repeats the password login, then sends the
    # refresh_token grant with the refresh_token from that response.
    auth.gen_refresh_token()
    check(auth.message == "Generated Refresh Token",
          f"refresh failed: HTTP {auth.response.status_code}: {auth.response.text}")
    grant = json.loads(auth.response.request.body)["grant_type"]
    check(grant == "refresh_token", f"last token request used grant_type={grant!r}")
    check(auth.token and auth.token != first_jwt, "refresh did not return a new, different jwt")

    # Authenticated GET (Authorization: Bearer <jwt>). Errors do not raise either: the result
    # dict then carries "error"/"error_response" and the raw response is api.get.response.
    users = api.get.call(url_path="usermgmt/users")
    status = api.get.response.status_code
    check(status == 200 and "error" not in users,
          f"GET /api/v1/usermgmt/users: HTTP {status}: {users.get('error_response', users)}")
    check(isinstance(users.get("resources"), list),
          f"GET /api/v1/usermgmt/users: no 'resources' list in {api.get.response.text}")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # Failure, missing env var, SDK/transport exceptions
        print(f"ciphertrust-sdk: FAILED: {type(err).__name__}: {err}")
        print("ciphertrust-sdk: 0 passed, 1 failed")
        sys.exit(1)
    print("ciphertrust-sdk: 1 passed, 0 failed")
