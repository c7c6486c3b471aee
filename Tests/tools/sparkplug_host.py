#!/usr/bin/env python3
"""A Sparkplug B host application for Dewpoint's tests.

It subscribes to spBv1.0/# on a broker, decodes every message with mqtt-spb-wrapper (the Eclipse
Tahu protobuf schema, from PyPI), applies the rules a host applies to an edge node's session, and
writes one JSON line per message to --out, with the rule it broke, if any, under "errors".

Rules checked (Sparkplug B 3.0):
- NBIRTH has seq 0 and a bdSeq metric; the NDEATH that ends the session carries the same bdSeq.
- every later message of the session (DBIRTH, DDATA, DDEATH) has the next seq, wrapping after 255.
- a device's DBIRTH declares each metric with a name, an alias unique in the node, and a datatype.
- DDATA comes only from a device born in the current session, and every metric of it is an alias
  its DBIRTH declared.

A message of a node the host does not hold as born (the host connected, or reconnected, after
its NBIRTH, which is published at QoS 0 and so not queued) is not a fault: like any host, this one
asks for a rebirth (NCMD) and notes it. Send "rebirth" on stdin to ask every node seen.
"""
import time
import argparse
import json
import signal
import sys
import threading

import paho.mqtt.client as mqtt
from mqtt_spb_wrapper.spb_base import SpbTopic
from mqtt_spb_wrapper.spb_protobuf import Payload

VALUE_FIELDS = ("int_value", "long_value", "float_value", "double_value", "boolean_value", "string_value")


def metric_dict(m):
    d = {"name": m.name if m.HasField("name") else None,
         "alias": m.alias if m.HasField("alias") else None,
         "datatype": m.datatype if m.HasField("datatype") else None,
         "timestamp": m.timestamp if m.HasField("timestamp") else None,
         "is_null": m.is_null}
    which = m.WhichOneof("value")
    d["value"] = getattr(m, which) if which else None
    if m.HasField("properties"):
        props = {}
        for k, v in zip(m.properties.keys, m.properties.values):
            w = v.WhichOneof("value")
            props[k] = getattr(v, w) if w else None
        d["properties"] = props
    return d


class Host:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        self.nodes = {}  # (group, node) -> session state
        self.client = None
        self.last_names = {}  # (group, node, device) -> {alias: name}, across sessions, to name DDATA metrics

    def host_reconnected(self):
        # whatever came meanwhile at QoS 0 (births) is lost: every node is unknown until reborn
        with self.lock:
            for s in self.nodes.values():
                s["online"] = False

    def ask_rebirth(self, group, node, s):
        if time.monotonic() - s.get("asked", 0) < 2:
            return
        s["asked"] = time.monotonic()
        self.client.publish(f"spBv1.0/{group}/NCMD/{node}", self.rebirth_payload(), qos=0)

    def emit(self, event):
        with self.lock:
            self.out.write(json.dumps(event) + "\n")
            self.out.flush()

    def on_message(self, topic_str, data):
        topic = SpbTopic(topic_str)
        kind = topic.message_type
        event = {"type": kind, "group": topic.group_name, "node": topic.eon_name, "device": topic.eon_device_name,
                 "topic": topic_str, "errors": []}
        if kind in ("NCMD", "DCMD", "STATE"):
            return
        p = Payload()
        try:
            p.ParseFromString(data)
        except Exception as e:  # noqa: BLE001 - any decoding failure is the finding
            event["errors"].append(f"undecodable payload: {e}")
            self.emit(event)
            return
        event["seq"] = p.seq if p.HasField("seq") else None
        event["timestamp"] = p.timestamp if p.HasField("timestamp") else None
        event["metrics"] = [metric_dict(m) for m in p.metrics]
        self.check(event)
        self.emit(event)

    def check(self, e):
        key = (e["group"], e["node"])
        s = self.nodes.setdefault(key, {"online": False, "bdSeq": None, "seq": None, "aliases": {}, "born": {}})
        err = e["errors"]
        kind = e["type"]

        def next_seq():
            if not s["online"]:
                e["unknown_node"] = True
                self.ask_rebirth(e["group"], e["node"], s)
                return
            if e["seq"] is None:
                err.append(f"{kind} without seq")
            elif e["seq"] != s["seq"]:
                err.append(f"{kind} seq {e['seq']}, expected {s['seq']}")
            s["seq"] = ((e["seq"] if e["seq"] is not None else s["seq"]) + 1) % 256

        if kind == "NBIRTH":
            bd = [m["value"] for m in e["metrics"] if m["name"] == "bdSeq"]
            if not bd:
                err.append("NBIRTH without bdSeq")
            if e["seq"] != 0:
                err.append(f"NBIRTH seq {e['seq']}, expected 0")
            if not any(m["name"] == "Node Control/Rebirth" for m in e["metrics"]):
                err.append("NBIRTH without Node Control/Rebirth")
            s.update(online=True, bdSeq=bd[0] if bd else None, seq=1, aliases={}, born={})
            e["bdSeq"] = s["bdSeq"]
        elif kind == "NDEATH":
            bd = [m["value"] for m in e["metrics"] if m["name"] == "bdSeq"]
            e["bdSeq"] = bd[0] if bd else None
            if not bd:
                err.append("NDEATH without bdSeq")
            elif s["bdSeq"] is not None and bd[0] != s["bdSeq"]:
                # a will left by an older session arrives after a newer NBIRTH: a host ignores it
                e["stale"] = True
            if not e.get("stale"):
                s.update(online=False, born={})
        elif kind == "DBIRTH":
            next_seq()
            dev = e["device"]
            if e.get("unknown_node"):
                self.last_names[key + (dev,)] = {m["alias"]: m["name"] for m in e["metrics"]}
                return
            for a in [a for a, (d, _) in s["aliases"].items() if d == dev]:
                del s["aliases"][a]
            declared = {}
            for m in e["metrics"]:
                if m["name"] is None or m["alias"] is None or m["datatype"] is None:
                    err.append(f"DBIRTH metric without name, alias or datatype: {m}")
                    continue
                if m["alias"] in s["aliases"]:
                    err.append(f"alias {m['alias']} of {dev}/{m['name']} is already {s['aliases'][m['alias']]}")
                s["aliases"][m["alias"]] = (dev, m["name"])
                declared[m["alias"]] = m["name"]
            s["born"][dev] = declared
            self.last_names[key + (dev,)] = dict(declared)
        elif kind == "DDATA":
            next_seq()
            dev = e["device"]
            if e.get("unknown_node"):
                names = self.last_names.get(key + (dev,), {})
                for m in e["metrics"]:
                    m["name"] = names.get(m["alias"])
                return
            if dev not in s["born"]:
                err.append(f"DDATA of {dev}, which has no DBIRTH in this session")
            declared = s["born"].get(dev, {})
            for m in e["metrics"]:
                if m["alias"] not in declared:
                    err.append(f"DDATA alias {m['alias']} not declared by {dev}'s DBIRTH")
                else:
                    m["name"] = declared[m["alias"]]
        elif kind == "DDEATH":
            next_seq()
            if e.get("unknown_node"):
                return
            if e["device"] not in s["born"]:
                err.append(f"DDEATH of {e['device']}, which is not born")
            s["born"].pop(e["device"], None)

    def rebirth_payload(self):
        p = Payload()
        m = p.metrics.add()
        m.name = "Node Control/Rebirth"
        m.datatype = 11
        m.boolean_value = True
        return p.SerializeToString()


def main():
    # a test process may start this with signals blocked (its threads' mask is inherited): unblock
    # them, so that SIGTERM stops this tool and the programs it starts
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signal.valid_signals())
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stay", action="store_true", help="keep watching after stdin closes (until killed)")
    a = ap.parse_args()
    out = open(a.out, "a", encoding="utf-8")
    host = Host(out)
    # a persistent session: DDATA (QoS 1) published while the host is away waits for it
    client = mqtt.Client(client_id=f"sparkplug-host-{a.port}", clean_session=False)
    host.client = client
    ready = threading.Event()

    def on_connect(c, _u, _f, rc):
        if ready.is_set():
            host.host_reconnected()
        c.subscribe("spBv1.0/#", qos=1)

    def on_subscribe(*_):
        host.emit({"type": "SUBSCRIBED", "errors": []})
        ready.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda _c, _u, msg: host.on_message(msg.topic, msg.payload)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.connect("127.0.0.1", a.port, keepalive=10)
    client.loop_start()
    for line in sys.stdin:
        if line.strip() == "rebirth":
            for (group, node) in list(host.nodes):
                client.publish(f"spBv1.0/{group}/NCMD/{node}", host.rebirth_payload(), qos=0)
            host.emit({"type": "REBIRTH_SENT", "errors": []})
    # stdin closed: the end, unless told to go on watching (the demo's /dev/null stdin)
    while a.stay:
        time.sleep(3600)
    client.loop_stop()


if __name__ == "__main__":
    main()
