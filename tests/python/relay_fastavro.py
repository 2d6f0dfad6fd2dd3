"""Re-encode the records of three input topics with fastavro and produce
them with confluent-kafka to three other topics: same partition, same key,
same order, as an independent Python producer would write the same events.

    relay_fastavro.py --brokers B --from L,N,I --to L2,N2,I2 --records COUNT
                      [--framing single-object|confluent --schema-ids-file F]

Each record that our loadgen wrote (single-object, our fingerprint) is
decoded with fastavro (the whole body must be read) and encoded again with
fastavro: in the single-object encoding with fastavro's fingerprint, or in
the Confluent format with the id the schema ids file gives the schema. A
record fastavro cannot read (poison) is passed on unchanged. Every record is
produced in a batch of its own (tansu's memory storage, see
tests/tests/broker.rs), with acks=all and one request in flight (order).
Prints counts as JSON.
"""

import argparse
import json
import os
import sys
import tomllib

from confluent_kafka import Consumer, Producer, TopicPartition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
import campaign_events as ce  # noqa: E402


def schemas():
    """(schema, its .avsc path) per topic index."""
    out = []
    for kind in ("campaign_lifecycle", "notification_sent", "user_interaction"):
        _, avsc = ce.KINDS[kind]
        path = os.path.join(ce.SCHEMAS_DIR, avsc)
        out.append((ce.load_schema(path), os.path.realpath(path)))
    return out


def confluent_ids(path, kinds):
    with open(path, "rb") as f:
        ids = tomllib.load(f)["ids"]
    base = os.path.dirname(os.path.abspath(path))
    by_file = {os.path.realpath(os.path.join(base, p)): int(i) for i, p in ids.items()}
    return [by_file[file] for _, file in kinds]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--from", dest="src", required=True)
    ap.add_argument("--to", dest="dst", required=True)
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--framing", choices=["single-object", "confluent"], default="single-object")
    ap.add_argument("--schema-ids-file")
    args = ap.parse_args()
    src, dst = args.src.split(","), args.dst.split(",")
    kinds = schemas()
    ids = confluent_ids(args.schema_ids_file, kinds) if args.framing == "confluent" else None
    headers = [ce.single_object_header(schema) for schema, _ in kinds]

    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": "relay-fastavro",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    parts = []
    for topic in src:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        parts += [TopicPartition(topic, p, 0) for p in sorted(meta.partitions)]
    consumer.assign(parts)
    producer = Producer(
        {
            "bootstrap.servers": args.brokers,
            "acks": "all",
            "max.in.flight.requests.per.connection": 1,
            "batch.num.messages": 1,
            "linger.ms": 0,
        }
    )
    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(str(err))

    counts = {"read": 0, "reencoded": 0, "passed_on": 0}
    while counts["read"] < args.records:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"consume: {msg.error()}")
        counts["read"] += 1
        t = src.index(msg.topic())
        schema, _ = kinds[t]
        value = msg.value() or b""
        out = value
        # Only records of the schema's own fingerprint (a poison record with
        # an unknown fingerprint stays poison).
        if value[:10] == headers[t]:
            try:
                record, whole = ce.decode_body(schema, value[10:])
            except Exception:  # poison: not a body of this schema
                record, whole = None, False
            if whole:
                if ids is None:
                    out = ce.encode_single_object(schema, record)
                else:
                    out = ce.encode_confluent(ids[t], schema, record)
        if out is value:
            counts["passed_on"] += 1
        else:
            counts["reencoded"] += 1
        while True:
            try:
                producer.produce(dst[t], value=out, key=msg.key(), partition=msg.partition(), on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    consumer.close()
    if remaining or failures:
        raise SystemExit(f"{remaining} not delivered, failures: {failures[:3]}")
    json.dump(counts, sys.stdout)
    print()


if __name__ == "__main__":
    main()
