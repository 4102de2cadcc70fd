"""Prepares a fresh Keyward for schemathesis: logs in as admin, creates one resource of each
kind (an AWS connection and a KMS container to LocalStack's KMS, AWS keys, a template, a job
config and a run of it, a vault key, a synchronization job, a user), writes the admin token
and a schemathesis config that draws each route's `{id}` from the ids of its resources half
of the time (the other half stays generated: unknown ids, odd characters).

It also saves the document (GET /api/v1/openapi.json, without a token): schemathesis run
on the saved copy tests the document's own route too (it leaves out the operation that
serves the schema it was given by URL).

Usage: URL=... CA=... PASSWORD=... KMS=... setup.py TOKEN_FILE CONFIG_FILE SCHEMA_FILE
"""

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid

URL = os.environ["URL"]
CTX = ssl.create_default_context(cafile=os.environ["CA"])


def call(method, path, body=None, token=None, want=(200, 201)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, method=method, data=data,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=CTX, timeout=60) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in want:
        sys.exit(f"setup: {method} {path}: {status} {text}")
    return json.loads(text) if text else None


def main():
    token_file, config_file, schema_file = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(schema_file, "w") as f:
        json.dump(call("GET", "/api/v1/openapi.json"), f)
    token = call("POST", "/api/v1/auth/tokens", {
        "grant_type": "password", "username": "admin", "password": os.environ["PASSWORD"]})["jwt"]
    ids = {}

    def make(kind, path, body, field="id"):
        ids.setdefault(kind, []).append(call("POST", path, body, token)[field])

    conn = "/api/v1/connectionmgmt/services/aws/connections"
    make("connections", conn, {
        "name": "st-aws", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_region": "us-east-1", "endpoint_url": os.environ["KMS"]})
    make("connections", conn, {
        "name": "st-spare", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_region": "us-east-1", "endpoint_url": os.environ["KMS"]})
    make("kms", "/api/v1/cckm/aws/kms", {
        "name": "st-kms", "account_id": "000000000000", "connection": "st-aws",
        "regions": ["us-east-1", "eu-west-1"]})
    # A LocalStack just started can be slow to answer its first calls: wait until it lists
    # aliases (verify-alias changes nothing) before creating keys.
    for attempt in range(30):
        answer = call("POST", "/api/v1/cckm/aws/alias/verify",
                      {"kms": "st-kms", "region": "us-east-1", "alias": "st-warm-up"}, token,
                      want=(200, 502, 503))
        if answer is not None and "code" not in answer:
            break
        time.sleep(2)
    else:
        sys.exit(f"setup: LocalStack's KMS does not answer: {answer}")
    keys = "/api/v1/cckm/aws/keys"
    make("keys", keys, {"kms": "st-kms", "region": "us-east-1",
                        "aws_param": {"Alias": f"st-key-{uuid.uuid4().hex[:12]}",
                                      "Description": "schemathesis"}})
    make("keys", keys, {"kms": "st-kms", "region": "us-east-1",
                        "aws_param": {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}})
    make("keys", keys, {"kms": "st-kms", "region": "us-east-1",
                        "aws_param": {"Origin": "EXTERNAL", "Description": "byok"}})
    make("keys", keys, {"kms": "st-kms", "region": "us-east-1",
                        "aws_param": {"MultiRegion": True}})
    make("templates", "/api/v1/cckm/aws/templates",
         {"name": "st-template", "kms": "st-kms", "key_admins": ["a"]})
    make("job_configs", "/api/v1/scheduler/job-configs",
         {"name": "st-job", "operation": "cckm_key_rotation", "run_at": "0 * * * *"})
    run = call("POST", f"/api/v1/scheduler/job-configs/{ids['job_configs'][0]}/run", None, token)
    ids["job_runs"] = [run["id"]]
    make("vault", "/api/v1/vault/keys2", {"name": "st-vault-key", "algorithm": "aes", "size": 256})
    make("sync", "/api/v1/cckm/aws/synchronization-jobs", {"kms": ["st-kms"]})
    make("users", "/api/v1/usermgmt/users", {
        "username": "st-user", "password": "st-user-password-1", "groups": ["CCKM Users"]}, "user_id")
    # Let the sync job end, so that it does not race the run's own requests.
    for _ in range(60):
        job = call("GET", f"/api/v1/cckm/aws/synchronization-jobs/{ids['sync'][0]}", None, token)
        if job.get("overall_status") not in ("in_progress", "pending", "running"):
            break
        time.sleep(0.5)

    routes = {
        "connections": "^/api/v1/connectionmgmt/services/aws/connections/",
        "kms": "^/api/v1/cckm/aws/kms/",
        "keys": "^/api/v1/cckm/aws/keys/",
        "templates": "^/api/v1/cckm/aws/templates/",
        "job_configs": "^/api/v1/scheduler/job-configs/",
        "job_runs": "^/api/v1/scheduler/job-runs/",
        "vault": "^/api/v1/vault/keys2/",
        "sync": "^/api/v1/cckm/aws/synchronization-jobs/",
        "users": "^/api/v1/usermgmt/users/",
    }
    lines = []
    for kind, values in ids.items():
        lines.append(f"[dictionaries.{kind}]")
        lines.append("values = " + json.dumps(values))
        lines.append("")
    for kind, regex in routes.items():
        lines.append("[[operations]]")
        lines.append(f"include-path-regex = {json.dumps(regex)}")
        lines.append(f'parameters = {{ "path.id" = {{ dictionary = "{kind}", probability = 0.5 }} }}')
        lines.append("")
    with open(config_file, "w") as f:
        f.write("\n".join(lines))
    with open(token_file, "w") as f:
        f.write(token)


main()
