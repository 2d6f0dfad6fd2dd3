#!/usr/bin/env python3
"""Partitions and offsets of Kafka topics, with nothing but the standard library.

    kafka-topics.py [--brokers HOST:PORT] [--json] [TOPIC...]

Speaks the plain Kafka protocol (Metadata v4 without topic auto-creation,
ListOffsets v1), so it works
with any broker (tansu, Apache Kafka, Redpanda) and needs no client library.
Without topics it describes every topic. Per topic: the partition count, the
messages held (latest minus earliest offset, summed over partitions) and the
latest offset of each partition. Exit status 2 when a topic is missing.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys

CLIENT_ID = b"campaign-analytics-local"


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        value = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s

    def array(self, item):
        n = self.take(">i")
        return [item() for _ in range(max(n, 0))]


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Connection:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.correlation = 0

    def request(self, api_key, version, body):
        self.correlation += 1
        header = struct.pack(">hhih", api_key, version, self.correlation, len(CLIENT_ID)) + CLIENT_ID
        payload = header + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", self.read(4))[0]
        reader = Reader(self.read(size))
        if reader.take(">i") != self.correlation:
            raise RuntimeError("response out of order")
        return reader

    def read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise RuntimeError("broker closed the connection")
            out += chunk
        return out

    def close(self):
        self.sock.close()


def metadata(conn, topics):
    body = struct.pack(">i", -1) if not topics else struct.pack(">i", len(topics)) + b"".join(map(string, topics))
    body += struct.pack(">b", 0)  # allow_auto_topic_creation: false
    r = conn.request(3, 4, body)
    r.take(">i")  # throttle
    brokers = {}
    for _ in range(r.take(">i")):
        node, host, port = r.take(">i"), r.string(), r.take(">i")
        r.string()  # rack
        brokers[node] = (host, port)
    r.string()  # cluster id
    r.take(">i")  # controller
    result = {}
    for _ in range(r.take(">i")):
        error, name, _internal = r.take(">h"), r.string(), r.take(">b")
        partitions = {}
        for _ in range(r.take(">i")):
            _perr, index, leader = r.take(">h"), r.take(">i"), r.take(">i")
            r.array(lambda: r.take(">i"))  # replicas
            r.array(lambda: r.take(">i"))  # isr
            partitions[index] = leader
        result[name] = (error, partitions)
    return brokers, result


def list_offsets(conn, topic, partitions, timestamp):
    body = struct.pack(">ii", -1, 1) + string(topic) + struct.pack(">i", len(partitions))
    body += b"".join(struct.pack(">iq", p, timestamp) for p in partitions)
    r = conn.request(2, 1, body)
    out = {}
    for _ in range(r.take(">i")):
        r.string()
        for _ in range(r.take(">i")):
            index, error, _ts, offset = r.take(">i"), r.take(">h"), r.take(">q"), r.take(">q")
            if error:
                raise RuntimeError(f"ListOffsets {topic}/{index}: error code {error}")
            out[index] = offset
    return out


def describe(brokers, topics, timeout):
    host, _, port = brokers.split(",")[0].rpartition(":")
    conn = Connection(host, int(port), timeout)
    try:
        nodes, meta = metadata(conn, topics)
    finally:
        conn.close()
    out = []
    for name in topics or sorted(meta):
        error, partitions = meta.get(name, (3, {}))
        if error or not partitions:
            out.append({"topic": name, "exists": False})
            continue
        by_leader = {}
        for p, leader in partitions.items():
            by_leader.setdefault(leader, []).append(p)
        earliest, latest = {}, {}
        for leader, ps in by_leader.items():
            lhost, lport = nodes.get(leader, (host, int(port)))
            c = Connection(lhost, lport, timeout)
            try:
                earliest.update(list_offsets(c, name, ps, -2))
                latest.update(list_offsets(c, name, ps, -1))
            finally:
                c.close()
        out.append(
            {
                "topic": name,
                "exists": True,
                "partitions": len(partitions),
                "messages": sum(latest[p] - earliest[p] for p in partitions),
                "latest_offsets": [latest[p] for p in sorted(partitions)],
            }
        )
    return out


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", default=os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092"))
    ap.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("topics", nargs="*")
    args = ap.parse_args()
    try:
        rows = describe(args.brokers, args.topics, args.timeout)
    except (OSError, RuntimeError, struct.error) as e:
        print(f"kafka-topics: {args.brokers}: {e}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(rows, sys.stdout)
        print()
    else:
        width = max([len(r["topic"]) for r in rows] + [5])
        print(f"{'topic':<{width}}  partitions  messages  latest offset per partition")
        for r in rows:
            if r["exists"]:
                offsets = " ".join(map(str, r["latest_offsets"]))
                print(f"{r['topic']:<{width}}  {r['partitions']:>10}  {r['messages']:>8}  {offsets}")
            else:
                print(f"{r['topic']:<{width}}  {'missing':>10}")
    return 0 if all(r["exists"] for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
