#!/usr/bin/env python3
"""Runs the real Home Assistant (from PyPI) for Dewpoint's discovery test.

It makes a throwaway configuration folder whose only integration is MQTT, pointed at the test's
broker (a config entry written to .storage, as the UI would), with an owner account and a
long-lived access token (written to .storage/auth, as the profile page would), starts Home
Assistant on a loopback port, and then answers commands on stdin:
  states   writes {"states": [...]} (GET /api/states) as one JSON line to --out
  quit     stops Home Assistant
Its own log goes to <config>/home-assistant.log.
"""
import argparse
import json
import signal
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import jwt  # PyJWT, a dependency of Home Assistant


OWNER = "5f3b2a1c8d9e4f60a7b8c9d0e1f2a3b4"  # a version 4 UUID, as Home Assistant checks


def write_config(config, broker_port, http_port, ui=False):
    os.makedirs(os.path.join(config, ".storage"), exist_ok=True)
    # --ui: the web interface too, logged in without a password from 127.0.0.1 (for screenshots)
    ui_config = f"""frontend:
  themes: {{}}
""" if ui else ""
    auth = f"""  auth_providers:
    - type: trusted_networks
      trusted_networks: [127.0.0.1/32]
      trusted_users: {{127.0.0.1: [{OWNER}]}}
      allow_bypass_login: true
    - type: homeassistant
""" if ui else ""
    with open(os.path.join(config, "configuration.yaml"), "w", encoding="utf-8") as f:
        f.write(f"""homeassistant:
{auth}
  name: Dewpoint test
  latitude: 0
  longitude: 0
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: DE
http:
  server_host: 127.0.0.1
  server_port: {http_port}
api:
{ui_config}logger:
  default: info
""")
    if ui:
        with open(os.path.join(config, ".storage", "onboarding"), "w", encoding="utf-8") as f:
            json.dump({"version": 4, "minor_version": 1, "key": "onboarding",
                       "data": {"done": ["user", "core_config", "analytics", "integration"]}}, f)
    entries = {"version": 1, "minor_version": 1, "key": "core.config_entries", "data": {"entries": [{
        "entry_id": "dewpointtestmqtt0000000000000001", "version": 1, "minor_version": 1, "domain": "mqtt",
        "title": "127.0.0.1", "data": {"broker": "127.0.0.1", "port": broker_port, "discovery": True},
        "options": {}, "pref_disable_new_entities": False, "pref_disable_polling": False,
        "source": "user", "unique_id": None, "disabled_by": None}]}}
    with open(os.path.join(config, ".storage", "core.config_entries"), "w", encoding="utf-8") as f:
        json.dump(entries, f)
    token_id, jwt_key = secrets.token_hex(16), secrets.token_hex(64)
    auth = {"version": 1, "minor_version": 1, "key": "auth", "data": {
        "users": [{"id": OWNER, "group_ids": ["system-admin"], "is_owner": True, "is_active": True,
                   "name": "test", "system_generated": False, "local_only": False}],
        "groups": [{"id": "system-admin", "name": "Administrators"}, {"id": "system-users", "name": "Users"},
                   {"id": "system-read-only", "name": "Read Only"}],
        "credentials": [],
        "refresh_tokens": [{"id": token_id, "user_id": OWNER, "client_id": None,
                            "client_name": "dewpoint-test", "client_icon": None, "token_type": "long_lived_access_token",
                            "created_at": "2024-01-01T00:00:00+00:00", "access_token_expiration": 86400.0,
                            "token": secrets.token_hex(64), "jwt_key": jwt_key, "last_used_at": None, "last_used_ip": None,
                            "expire_at": None, "credential_id": None, "version": "2024.3.3"}]}}
    with open(os.path.join(config, ".storage", "auth"), "w", encoding="utf-8") as f:
        json.dump(auth, f)
    now = int(time.time())
    return jwt.encode({"iss": token_id, "iat": now, "exp": now + 86400}, jwt_key, algorithm="HS256")


def request(url, data=None, token=None, form=False):
    headers = {}
    body = None
    if data is not None:
        if form:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=10) as r:
        return json.loads(r.read() or b"null")


def main():
    # a test process may start this with signals blocked (its threads' mask is inherited): unblock
    # them, so that SIGTERM stops this tool and the programs it starts
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signal.valid_signals())
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker-port", type=int, required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ui", action="store_true", help="also the web interface, logged in from 127.0.0.1 without a password")
    a = ap.parse_args()
    token = write_config(a.config, a.broker_port, a.http_port, ui=a.ui)
    log = open(os.path.join(a.config, "home-assistant.log"), "a", encoding="utf-8")
    hass = subprocess.Popen([sys.executable, "-m", "homeassistant", "-c", a.config],
                            stdout=log, stderr=subprocess.STDOUT)
    out = open(a.out, "a", encoding="utf-8")

    def emit(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    base = f"http://127.0.0.1:{a.http_port}"
    up = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and hass.poll() is None:
        try:
            up = request(base + "/api/config", token=token)
            if "mqtt" in up.get("components", []):
                break
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    if up is None or "mqtt" not in up.get("components", []):
        emit({"error": f"Home Assistant did not come up (exit {hass.poll()}); see {a.config}/home-assistant.log"})
        hass.terminate()
        return 1
    emit({"ready": True, "version": up.get("version")})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "states":
            try:
                emit({"states": request(base + "/api/states", token=token)})
            except Exception as e:  # noqa: BLE001
                emit({"error": str(e)})
        elif cmd == "quit":
            break
    hass.terminate()
    try:
        hass.wait(timeout=30)
    except subprocess.TimeoutExpired:
        hass.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
