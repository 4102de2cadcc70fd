#!/usr/bin/env python3
"""The benchmark's drivers (scripts/bench.sh runs them; run with LocalStack's venv, which has boto3).

Subcommands print one JSON object on stdout (progress goes to stderr):
  populate    keys (and an alias each) made in LocalStack directly, by parallel boto3 workers
  saturate    LocalStack's saturated call rate for a mix of operations, by parallel boto3 workers
  baseline    the write baseline: creating keys with an alias and a tag with boto3, in sequence
  start       starts `keyward serve`, times it to its first HTTPS answer
  setup       logs in to Keyward, adds the LocalStack connection and a KMS container
  creates     N creates through Keyward, in sequence (the write baseline's other side)
  ops         AWS calls per Keyward operation, from /metrics before and after each
  sync        a synchronisation job: wall time, AWS calls, peak RSS, peak call rates
  get         one GET through Keyward (the body to stdout, for nginx's copy)
  nginx-conf  nginx's configuration for the ceiling
  report      the summary of a run (reads the JSON files of a results directory)
"""

import argparse
import http.client
import json
import math
import multiprocessing
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def out(obj):
    print(json.dumps(obj), flush=True)


# ---------------------------------------------------------------- boto3 side

def kms_client(endpoint, region, threads=10):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="test",
        config=Config(max_pool_connections=max(10, threads), retries={"max_attempts": 3, "mode": "standard"}),
    )


def _populate_worker(args):
    endpoint, region, prefix, indices, aliases, threads = args
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def client():
        if not hasattr(local, "c"):
            local.c = kms_client(endpoint, region, threads)
        return local.c

    def one(i):
        c = client()
        kid = c.create_key(Description=f"bench {prefix} {i}", Tags=[{"TagKey": "bench", "TagValue": prefix}])["KeyMetadata"]["KeyId"]
        if aliases:
            c.create_alias(AliasName=f"alias/{prefix}-{i}", TargetKeyId=kid)
        return 2 if aliases else 1

    with ThreadPoolExecutor(threads) as ex:
        return sum(ex.map(one, indices))


def cmd_populate(a):
    idx = list(range(a.count))
    chunks = [idx[p :: a.procs] for p in range(a.procs)]
    t0 = time.monotonic()
    with multiprocessing.Pool(a.procs) as pool:
        calls = sum(pool.map(_populate_worker, [(a.endpoint, a.region, a.prefix, c, a.aliases, a.threads) for c in chunks]))
    secs = time.monotonic() - t0
    out({"region": a.region, "keys": a.count, "aliases": a.count if a.aliases else 0, "calls": calls, "secs": secs, "calls_per_sec": calls / secs})


def list_key_ids(endpoint, region):
    c = kms_client(endpoint, region)
    ids, marker = [], None
    while True:
        kw = {"Limit": 1000}
        if marker:
            kw["Marker"] = marker
        r = c.list_keys(**kw)
        ids += [k["KeyId"] for k in r["Keys"]]
        if not r.get("Truncated"):
            return ids
        marker = r["NextMarker"]


def _call(c, op, key_ids, per_key_aliases):
    from botocore import xform_name

    if op == "ListKeys":
        return c.list_keys(Limit=1000)
    if op == "ListAliases":
        return c.list_aliases(KeyId=random.choice(key_ids)) if per_key_aliases else c.list_aliases(Limit=100)
    kw = {"KeyId": random.choice(key_ids)}
    if op in ("GetKeyPolicy",):
        kw["PolicyName"] = "default"
    return getattr(c, xform_name(op))(**kw)


def _raw_body(op, key_ids, per_key_aliases):
    """The JSON body of `op` as the KMS JSON protocol takes it."""
    if op == "ListKeys":
        return {"Limit": 1000}
    if op == "ListAliases":
        return {"KeyId": random.choice(key_ids)} if per_key_aliases else {"Limit": 100}
    body = {"KeyId": random.choice(key_ids)}
    if op == "GetKeyPolicy":
        body["PolicyName"] = "default"
    return body


def _saturate_worker(args):
    """Threads sending the mix over keep-alive HTTP with the KMS JSON protocol directly: no
    botocore in the loop, so the driver takes as little CPU from the emulator as it can.
    LocalStack reads the Region and account from the Authorization header and does not check
    the signature."""
    endpoint, region, ops, weights, key_ids, per_key_aliases, secs, threads, start_at = args
    m = re.match(r"http://([^:/]+):(\d+)", endpoint)
    host, port = m.group(1), int(m.group(2))
    day = time.strftime("%Y%m%d", time.gmtime())
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{day}/{region}/kms/aws4_request, "
                         "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64,
    }
    counts = {"calls": 0, "errors": 0}
    lock = threading.Lock()

    def run():
        c = http.client.HTTPConnection(host, port, timeout=60)
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + secs
        n = e = 0
        while time.time() < end:
            op = random.choices(ops, weights)[0]
            h = dict(headers)
            h["X-Amz-Target"] = "TrentService." + op
            try:
                c.request("POST", "/", body=json.dumps(_raw_body(op, key_ids, per_key_aliases)), headers=h)
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    n += 1
                else:
                    e += 1
            except (OSError, http.client.HTTPException):
                e += 1
                c = http.client.HTTPConnection(host, port, timeout=60)
        with lock:
            counts["calls"] += n
            counts["errors"] += e

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return counts


def cmd_saturate(a):
    mix = {k: v for k, v in json.loads(a.mix).items() if v > 0}
    key_ids = list_key_ids(a.endpoint, a.region)
    if not key_ids:
        sys.exit("saturate: no keys in the Region")
    # Check each operation once; drop the ones this driver cannot replay.
    c = kms_client(a.endpoint, a.region)
    per_key_aliases = mix.get("ListAliases", 0) >= 0.5 * max(mix.values())
    dropped = []
    for op in list(mix):
        try:
            _call(c, op, key_ids, per_key_aliases)
        except Exception as e:  # noqa: BLE001
            dropped.append(f"{op}: {type(e).__name__}")
            del mix[op]
    ops = list(mix)
    weights = [mix[o] for o in ops]
    # Several levels of concurrency (processes x threads); the saturated rate is the best one.
    levels = []
    for level in a.levels.split(","):
        procs, threads = (int(x) for x in level.split("x"))
        start_at = time.time() + 2.0
        with multiprocessing.Pool(procs) as pool:
            res = pool.map(
                _saturate_worker,
                [(a.endpoint, a.region, ops, weights, key_ids, per_key_aliases, a.secs, threads, start_at)] * procs,
            )
        calls = sum(r["calls"] for r in res)
        errors = sum(r["errors"] for r in res)
        if errors > 0.01 * max(1, calls):
            sys.exit(f"saturate: {errors} failed calls against {calls} answered: the rate would be wrong")
        levels.append({"procs": procs, "threads": threads, "calls": calls, "errors": errors, "calls_per_sec": calls / a.secs})
        log(f"  {procs}x{threads}: {calls / a.secs:.0f} calls/s")
    best = max(levels, key=lambda l: l["calls_per_sec"])
    out({"mix": mix, "dropped": dropped, "per_key_aliases": per_key_aliases, "procs": best["procs"], "threads": best["threads"],
         "secs": a.secs, "calls": best["calls"], "errors": best["errors"], "calls_per_sec": best["calls_per_sec"],
         "levels": levels})


def cmd_baseline(a):
    c = kms_client(a.endpoint, a.region)
    run = uuid.uuid4().hex[:8]
    calls = 0
    t0 = None
    for i in range(-1, a.count):  # the first key (i = -1) warms up, untimed
        if i == 0:
            calls = 0
            t0 = time.monotonic()
        kid = c.create_key(Tags=[{"TagKey": "bench", "TagValue": "yes"}])["KeyMetadata"]["KeyId"]
        c.create_alias(AliasName=f"alias/py-create-{run}-{i}", TargetKeyId=kid)
        # what Keyward reads back to store the record
        c.describe_key(KeyId=kid)
        c.list_aliases(KeyId=kid)
        c.list_resource_tags(KeyId=kid)
        c.get_key_policy(KeyId=kid, PolicyName="default")
        c.get_key_rotation_status(KeyId=kid)
        calls += 7
    secs = time.monotonic() - t0
    out({"count": a.count, "calls": calls, "calls_per_key": calls / a.count, "secs": secs})


# ---------------------------------------------------------------- Keyward side

class Keyward:
    def __init__(self, url, token=None):
        m = re.match(r"https://([^:/]+):(\d+)", url)
        self.host, self.port = m.group(1), int(m.group(2))
        self.token = token
        self.ctx = ssl._create_unverified_context()
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=600)
        return self.conn

    def req(self, method, path, body=None, expect=(200, 201, 204)):
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                c = self._conn()
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt:
                    raise
        if r.status not in expect:
            raise RuntimeError(f"{method} {path} -> {r.status}: {raw[:500]!r}")
        return r.status, raw, r.getheader("Content-Type")

    def json(self, method, path, body=None):
        _, raw, _ = self.req(method, path, body)
        return json.loads(raw) if raw else None

    def aws_calls(self):
        """keyward_aws_calls_total summed over outcomes, per operation."""
        _, raw, _ = self.req("GET", "/metrics")
        calls = {}
        for line in raw.decode().splitlines():
            if not line.startswith("keyward_aws_calls_total{"):
                continue
            labels, value = line.rsplit(" ", 1)
            op = re.search(r'operation="([^"]*)"', labels).group(1)
            calls[op] = calls.get(op, 0) + float(value)
        return calls


def diff(after, before):
    d = {k: int(round(v - before.get(k, 0))) for k, v in after.items()}
    return {k: v for k, v in sorted(d.items()) if v}


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def cmd_start(a):
    env = dict(os.environ)
    for kv in a.env or []:
        k, v = kv.split("=", 1)
        env[k] = v
    logf = open(a.log, "ab")
    ctx = ssl._create_unverified_context()
    host, port = a.listen.rsplit(":", 1)
    t0 = time.monotonic()
    p = subprocess.Popen([a.bin, "serve", "--listen", a.listen, "--data-dir", a.data_dir],
                         stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    secs = None
    while time.monotonic() - t0 < a.timeout:
        if p.poll() is not None:
            sys.exit(f"keyward exited with {p.returncode}; see {a.log}")
        try:
            c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=2)
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                secs = time.monotonic() - t0
                break
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.002)
    if secs is None:
        p.kill()
        sys.exit(f"keyward did not answer within {a.timeout} s; see {a.log}")
    time.sleep(a.settle)
    out({"pid": p.pid, "startup_secs": secs, "rss_kib_after_settle": rss_kib(p.pid)})


def cmd_setup(a):
    kw = Keyward(a.url)
    tok = kw.json("POST", "/api/v1/auth/tokens", {"grant_type": "password", "username": "admin", "password": a.password})
    kw.token = tok["jwt"]
    kw.json("POST", "/api/v1/connectionmgmt/services/aws/connections", {
        "name": "localstack", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "test",
        "aws_region": a.regions[0], "cloud_name": "aws", "endpoint_url": a.endpoint})
    kms = kw.json("POST", "/api/v1/cckm/aws/kms", {
        "name": a.kms, "account_id": "000000000000", "connection": "localstack", "regions": a.regions})
    out({"token": kw.token, "kms_id": kms["id"]})


def create_body(kms, region, alias, **extra):
    p = {"Alias": alias, "Tags": [{"TagKey": "bench", "TagValue": "yes"}]}
    p.update(extra)
    return {"kms": kms, "region": region, "aws_param": p}


def cmd_creates(a):
    kw = Keyward(a.url, a.token)
    run = uuid.uuid4().hex[:8]
    # one create warms up (connection, AWS client), untimed, as the boto3 side does
    kw.json("POST", "/api/v1/cckm/aws/keys", create_body(a.kms, a.region, f"kw-create-{run}-warm"))
    before = kw.aws_calls()
    ids = []
    t0 = time.monotonic()
    for i in range(a.count):
        ids.append(kw.json("POST", "/api/v1/cckm/aws/keys", create_body(a.kms, a.region, f"kw-create-{run}-{i}"))["id"])
    secs = time.monotonic() - t0
    calls = diff(kw.aws_calls(), before)
    total = sum(calls.values())
    out({"count": a.count, "secs": secs, "first_id": ids[0], "aws_calls": calls, "calls_per_key": total / a.count})


def cmd_ops(a):
    kw = Keyward(a.url, a.token)
    run = uuid.uuid4().hex[:8]
    rows = {}

    def measure(name, fn):
        before = kw.aws_calls()
        t0 = time.monotonic()
        res = fn()
        secs = time.monotonic() - t0
        calls = diff(kw.aws_calls(), before)
        rows[name] = {"calls": sum(calls.values()), "by_operation": calls, "secs": secs}
        log(f"  {a.label}: {name}: {sum(calls.values())} AWS calls {calls}")
        return res

    K = "/api/v1/cckm/aws"
    rec = measure("create", lambda: kw.json("POST", f"{K}/keys", create_body(a.kms, a.region, f"ops-{run}-a")))
    measure("add-alias", lambda: kw.json("POST", f"{K}/keys/{rec['id']}/add-alias", {"alias": f"ops-{run}-b"}))
    measure("upload-key", lambda: kw.json("POST", f"{K}/upload-key", {
        "kms": a.kms, "region": a.region, "source_key_tier": "local",
        "aws_param": {"Alias": f"ops-{run}-u", "Tags": [{"TagKey": "bench", "TagValue": "yes"}]}}))
    primary = kw.json("POST", f"{K}/keys", create_body(a.kms, a.primary_region, f"ops-{run}-p", MultiRegion=True))
    measure("replicate-key", lambda: kw.json("POST", f"{K}/keys/{primary['id']}/replicate-key", {
        "replica_region": a.region, "kms": a.kms, "aws_param": {"Alias": f"ops-{run}-r"}}))
    measure("rotate", lambda: kw.json("POST", f"{K}/keys/{rec['id']}/rotate", {"retain_alias": True}))
    out({"label": a.label, "region": a.region, "ops": rows})


def cmd_sync(a):
    kw = Keyward(a.url, a.token)
    K = "/api/v1/cckm/aws/synchronization-jobs"
    try:
        with open(f"/proc/{a.pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM: the peak below is this sync's
        hwm_reset = True
    except OSError:
        hwm_reset = False
    before = kw.aws_calls()
    samples = [(time.monotonic(), before)]
    peak_rss = rss_kib(a.pid)
    t0 = time.monotonic()
    job = kw.json("POST", K, {"kms": [a.kms], "regions": [a.region]})
    last_sample = t0
    while True:
        time.sleep(0.05)
        peak_rss = max(peak_rss, rss_kib(a.pid) or 0)
        now = time.monotonic()
        if now - last_sample >= 0.5:
            samples.append((now, kw.aws_calls()))
            last_sample = now
        j = kw.json("GET", f"{K}/{job['id']}")
        if j["overall_status"] != "in_progress":
            break
    secs = time.monotonic() - t0
    after = kw.aws_calls()
    samples.append((time.monotonic(), after))
    calls = diff(after, before)
    # the highest rate of each operation over any window of >= 5 s between samples
    peak_rates = {}
    for i in range(len(samples)):
        for k in range(i + 1, len(samples)):
            dt = samples[k][0] - samples[i][0]
            if dt < 5.0:
                continue
            for op, v in diff(samples[k][1], samples[i][1]).items():
                peak_rates[op] = max(peak_rates.get(op, 0.0), v / dt)
            break
    hwm = rss_kib(a.pid, "VmHWM")
    out({"region": a.region, "secs": secs, "status": j["overall_status"], "detailed_status": j.get("detailed_status"),
         "keys_seen": j.get("keys_seen"), "keys_added": j.get("keys_added"), "aws_calls": calls,
         "total_calls": sum(calls.values()), "peak_rss_kib": max(peak_rss, hwm or 0) if hwm_reset else peak_rss,
         "hwm_reset": hwm_reset, "peak_rate_5s": peak_rates,
         "samples": [[round(t - t0, 3), c] for t, c in samples]})


def cmd_get(a):
    kw = Keyward(a.url, a.token)
    status, raw, ctype = kw.req("GET", a.path)
    with open(a.out, "wb") as f:
        f.write(raw)
    body = json.loads(raw)
    records = len(body["resources"]) if isinstance(body, dict) and "resources" in body else 1
    out({"path": a.path, "bytes": len(raw), "records": records, "content_type": ctype})


def cmd_nginx_conf(a):
    maps = "\n".join(f'        "{p}" "{f}";' for p, f in zip(a.path, a.file))
    print(f"""worker_processes {a.workers};
pid {a.dir}/nginx.pid;
error_log {a.dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type "{a.content_type}";
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    client_body_temp_path {a.dir}/tmp/body;
    proxy_temp_path {a.dir}/tmp/proxy;
    fastcgi_temp_path {a.dir}/tmp/fastcgi;
    uwsgi_temp_path {a.dir}/tmp/uwsgi;
    scgi_temp_path {a.dir}/tmp/scgi;
    map_hash_bucket_size 512;
    map $request_uri $bench_file {{
        default "missing";
{maps}
    }}
    server {{
        listen 127.0.0.1:{a.port} ssl;
        ssl_certificate {a.cert};
        ssl_certificate_key {a.key};
        ssl_protocols TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        location / {{
            root {a.dir}/www;
            try_files /$bench_file =404;
        }}
    }}
}}""")


# ---------------------------------------------------------------- report

def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ok(flag):
    return "MET" if flag else "NOT MET"


def cmd_report(a):
    d = a.dir
    lines = []
    p = lines.append
    cfg = load(d, "config") or {}
    p(f"Keyward benchmark, {cfg.get('date', '?')} on {cfg.get('machine', '?')}")
    p(f"sizes: {json.dumps(cfg.get('sizes', {}))}")
    p(f"load average before/after: {cfg.get('load_before', '?')} / {cfg.get('load_after', '?')}")
    pops = [x for x in (load(d, "populate_big"), load(d, "populate_small")) if x]
    for x in pops:
        p(f"LocalStack: {x['keys']} keys and {x['aliases']} aliases made in {x['region']} by boto3 in {x['secs']:.1f} s ({x['calls_per_sec']:.0f} calls/s)")
    p("")
    # 1. reads
    reads = load(d, "reads")
    p("1. Reads (wrk {} threads, {} connections, {} s, TLS 1.3; nginx serves Keyward's bytes with its certificate)".format(
        cfg.get("sizes", {}).get("wrk_threads"), cfg.get("sizes", {}).get("wrk_conns"), cfg.get("sizes", {}).get("wrk_secs")))
    if reads:
        p(f"   {'read':<44} {'records':>7} {'bytes':>7} {'Keyward r/s':>11} {'nginx r/s':>10} {'ratio':>6} {'KW p50':>8} {'KW p99':>8}  goal")
        for r in reads:
            k, n = r["keyward"], r["nginx"]
            if not k["requests"]:
                k["p50_ms"] = k["p99_ms"] = float("inf")
            ratio = k["rps"] / n["rps"] if n["rps"] else float("nan")
            goal = r["goal_ratio"]
            met = ratio >= goal and (r.get("goal_p99_ms") is None or k["p99_ms"] < r["goal_p99_ms"])
            errs = "" if not (k["errors"] or n["errors"]) else f"  (errors: Keyward {k['errors']}, nginx {n['errors']})"
            gtxt = f">= {goal}" + (f", p99 < {r['goal_p99_ms']} ms" if r.get("goal_p99_ms") else "")
            p(f"   {r['name']:<44} {r.get('records', '?'):>7} {r['bytes']:>7} {k['rps']:>11.0f} {n['rps']:>10.0f} {ratio:>6.2f} {k['p50_ms']:>7.2f}ms {k['p99_ms']:>7.2f}ms  {gtxt}: {ok(met)}{errs}")
    else:
        p("   (not run)")
    p("")
    # 2. AWS calls per operation
    o0, o10 = load(d, "ops_0"), load(d, "ops_big")
    p(f"2. AWS calls per operation (from /metrics), an empty Region vs {cfg.get('sizes', {}).get('keys')} keys and aliases in the Region")
    if o0 and o10:
        p(f"   {'operation':<14} {'empty':>6} {'big':>6}  same?  calls with the big Region")
        all_same = True
        for op in o0["ops"]:
            c0 = o0["ops"][op]["calls"]
            c1 = o10["ops"].get(op, {}).get("calls")
            same = c0 == c1
            all_same &= same
            p(f"   {op:<14} {c0:>6} {c1 if c1 is not None else '-':>6}  {'yes' if same else 'NO ':<5}  {json.dumps(o10['ops'].get(op, {}).get('by_operation', {}))}")
        p(f"   goal (the same number at 0 and at the big Region): {ok(all_same)}")
    else:
        p("   (not run)")
    p("")
    # 3. sync
    p("3. Sync at scale")
    s1, s10, sat, slim = load(d, "sync_small"), load(d, "sync_big"), load(d, "saturate"), load(d, "sync_limited")
    for label, s in (("small", s1), ("big", s10)):
        if s:
            p(f"   sync of {s.get('keys_seen')} keys ({label}): {s['secs']:.1f} s, {s['status']}, {s['total_calls']} AWS calls "
              f"({s['total_calls'] / max(1, s.get('keys_seen') or 1):.2f}/key) {json.dumps(s['aws_calls'])}; peak RSS {s['peak_rss_kib'] / 1024:.1f} MiB")
    if s10 and sat:
        emu_min = s10["total_calls"] / sat["calls_per_sec"]
        ratio = s10["secs"] / emu_min
        lv = ", ".join(f"{l['procs']}x{l['threads']}: {l['calls_per_sec']:.0f}" for l in sat.get("levels", []))
        p(f"   LocalStack saturated (raw KMS JSON requests in the sync's mix, {sat['secs']} s per level; processes x threads: calls/s {lv}): {sat['calls_per_sec']:.0f} calls/s"
          + (f" (dropped from the mix: {sat['dropped']})" if sat.get("dropped") else ""))
        p(f"   emulator-bound minimum {emu_min:.1f} s; sync {s10['secs']:.1f} s; ratio {ratio:.2f} (goal <= 1.1): {ok(ratio <= 1.1)}")
        if s1:
            r1, r10 = s1["peak_rss_kib"], s10["peak_rss_kib"]
            p(f"   peak RSS: {r1 / 1024:.1f} MiB at {s1.get('keys_seen')} keys, {r10 / 1024:.1f} MiB at {s10.get('keys_seen')} keys (x{r10 / r1:.2f}; flat: goal)")
    if slim:
        lim = slim["limits"]
        allowed = slim["min_allowed_secs"]
        ratio = slim["secs"] / allowed
        p(f"   with aws_rate_limits {json.dumps(lim)}: {slim['secs']:.1f} s, {slim['status']}, minimum the quotas allow {allowed:.1f} s, ratio {ratio:.2f} (goal <= 1.05): {ok(ratio <= 1.05)}")
        # Above a quota: more calls in some window of >= 5 s than the quota allows there (its
        # rate times the window, plus the one second's burst a full bucket holds), beyond 2%
        # and one call of slack for when /metrics was read.
        over = {}
        smp = slim.get("samples", [])
        for i in range(len(smp)):
            for k in range(i + 1, len(smp)):
                dt = smp[k][0] - smp[i][0]
                if dt < 5.0:
                    continue
                for op, l in lim.items():
                    n = smp[k][1].get(op, 0) - smp[i][1].get(op, 0)
                    allowed = l * dt + l
                    if n > allowed * 1.02 + 1:
                        over[op] = max(over.get(op, 0), round(n - allowed))
                break
        p(f"   peak 5-s rate per limited operation {json.dumps({op: round(r, 1) for op, r in slim.get('peak_rate_5s', {}).items() if op in lim})}"
          f" (a 5-s window may hold one 1-s burst above the quota); calls beyond quota x window + burst: {'none' if not over else 'ABOVE by ' + json.dumps(over)}")
    if not (s10 or slim):
        p("   (not run)")
    p("")
    # 4. store
    st = load(d, "store")
    p("4. Store scale")
    if st:
        p(f"   {st['records']} records (seeded in {st.get('seed_ms', 0) / 1000:.1f} s); start-up to the first HTTPS answer {st['startup_secs'] * 1000:.0f} ms (goal < 300 ms): {ok(st['startup_secs'] < 0.3)}")
        p(f"   idle RSS after start {st['idle_rss_kib'] / 1024:.1f} MiB, after the list queries {st['idle_rss_after_kib'] / 1024:.1f} MiB (goal < 40 MB): {ok(max(st['idle_rss_kib'], st['idle_rss_after_kib']) * 1024 < 40e6)}")
        worst = 0.0
        for q in st["queries"]:
            if not q.get("requests"):
                q["p50_ms"] = float("inf")  # no answer within the run
            worst = max(worst, q["p50_ms"])
            flag = "" if q["p50_ms"] < 10 else ("  <- no answer within the run" if not q.get("requests") else "  <- over 10 ms")
            errs = f"  (errors {q['errors']})" if q["errors"] else ""
            p(f"   p50 {q['p50_ms']:>7.2f} ms  total {q.get('total', '?'):>6}  {q['query']}{flag}{errs}")
        p(f"   goal (p50 < 10 ms for every page): {ok(worst < 10)} (worst {worst:.2f} ms)")
    else:
        p("   (not run)")
    p("")
    # 5. write baseline
    w, b = load(d, "creates"), load(d, "baseline")
    p("5. Write baseline: creating keys with an alias and a tag, in sequence")
    if w and b:
        ratio = w["secs"] / b["secs"]
        p(f"   boto3 script ({b['calls_per_key']:.0f} AWS calls per key: CreateKey with tags, CreateAlias, DescribeKey, ListAliases, ListResourceTags, GetKeyPolicy, GetKeyRotationStatus): {b['count']} keys in {b['secs']:.2f} s")
        p(f"   Keyward ({w['calls_per_key']:.1f} AWS calls per key {json.dumps(w['aws_calls'])}): {w['count']} keys in {w['secs']:.2f} s")
        p(f"   ratio {ratio:.2f} (goal <= 0.7): {ok(ratio <= 0.7)}")
    else:
        p("   (not run)")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("populate")
    s.add_argument("--endpoint", required=True); s.add_argument("--region", required=True)
    s.add_argument("--count", type=int, required=True); s.add_argument("--prefix", required=True)
    s.add_argument("--aliases", action="store_true"); s.add_argument("--procs", type=int, default=2)
    s.add_argument("--threads", type=int, default=16)
    s = sub.add_parser("saturate")
    s.add_argument("--endpoint", required=True); s.add_argument("--region", required=True)
    s.add_argument("--mix", required=True); s.add_argument("--secs", type=float, default=10)
    s.add_argument("--levels", default="1x4,1x16,2x8,2x16")
    s = sub.add_parser("baseline")
    s.add_argument("--endpoint", required=True); s.add_argument("--region", required=True)
    s.add_argument("--count", type=int, required=True)
    s = sub.add_parser("start")
    s.add_argument("--bin", required=True); s.add_argument("--listen", required=True)
    s.add_argument("--data-dir", required=True); s.add_argument("--log", required=True)
    s.add_argument("--env", action="append"); s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--settle", type=float, default=0)
    s = sub.add_parser("setup")
    s.add_argument("--url", required=True); s.add_argument("--password", required=True)
    s.add_argument("--endpoint", required=True); s.add_argument("--kms", required=True)
    s.add_argument("--regions", nargs="+", required=True)
    for name in ("creates", "ops", "sync", "get"):
        s = sub.add_parser(name)
        s.add_argument("--url", required=True); s.add_argument("--token", required=True)
        if name == "creates":
            s.add_argument("--kms", required=True); s.add_argument("--region", required=True)
            s.add_argument("--count", type=int, required=True)
        if name == "ops":
            s.add_argument("--kms", required=True); s.add_argument("--region", required=True)
            s.add_argument("--primary-region", required=True); s.add_argument("--label", required=True)
        if name == "sync":
            s.add_argument("--kms", required=True); s.add_argument("--region", required=True)
            s.add_argument("--pid", type=int, required=True)
        if name == "get":
            s.add_argument("--path", required=True); s.add_argument("--out", required=True)
    s = sub.add_parser("nginx-conf")
    for f in ("dir", "cert", "key", "content-type"):
        s.add_argument("--" + f, required=True)
    s.add_argument("--port", type=int, required=True); s.add_argument("--workers", default="auto")
    s.add_argument("--path", action="append", required=True); s.add_argument("--file", action="append", required=True)
    s = sub.add_parser("report")
    s.add_argument("--dir", required=True)
    a = ap.parse_args()
    globals()["cmd_" + a.cmd.replace("-", "_")](a)


if __name__ == "__main__":
    main()
