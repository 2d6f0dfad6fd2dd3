"""Writing campaign analytics events from Python, with the ordinary tools:
fastavro encodes, confluent-kafka produces.

Both wire formats the processor accepts (ingestion.md):

- Avro single-object encoding: C3 01, the 8-byte little-endian CRC-64-AVRO
  fingerprint of the schema's Parsing Canonical Form, then the body.
- Confluent Schema Registry wire format: 00, the 4-byte big-endian schema id,
  then the body (confluent_kafka.schema_registry.avro.AvroSerializer writes
  this too, when a registry is at hand).

Run it to produce one event of each kind:

    python examples/python/campaign_events.py --brokers 127.0.0.1:9092

(tests/tests/producers.rs uses these functions to feed the processor.)
"""

import argparse
import io
import json
import os
import struct
import time
import uuid

from confluent_kafka import Producer
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

SCHEMAS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas", "avro")

# The record of each topic, with its current schema file.
KINDS = {
    "campaign_lifecycle": ("campaign-lifecycle", "campaign_lifecycle.v1.avsc"),
    "notification_sent": ("notifications", "notification_sent.v1.avsc"),
    "user_interaction": ("interactions", "user_interaction.v1.avsc"),
}

SINGLE_OBJECT_MARKER = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


def load_schema(path):
    with open(path, encoding="utf-8") as f:
        return parse_schema(json.load(f))


def single_object_header(schema):
    """C3 01 and the schema's fingerprint, as the Avro specification defines it."""
    pcf = to_parsing_canonical_form(schema)
    return SINGLE_OBJECT_MARKER + bytes.fromhex(fingerprint(pcf, "CRC-64-AVRO"))


def body(schema, record):
    out = io.BytesIO()
    schemaless_writer(out, schema, record)
    return out.getvalue()


def encode_single_object(schema, record):
    return single_object_header(schema) + body(schema, record)


def encode_confluent(schema_id, schema, record):
    return CONFLUENT_MAGIC + struct.pack(">I", schema_id) + body(schema, record)


def decode_body(schema, data):
    """The record of an Avro body, and whether the body was read to its end."""
    buf = io.BytesIO(data)
    record = schemaless_reader(buf, schema, None)
    return record, buf.tell() == len(data)


def demo_events(tenant, campaign):
    now = int(time.time() * 1000)
    common = {"tenant_id": tenant, "campaign_id": campaign, "job_id": "job-1"}
    yield "campaign_lifecycle", {
        **common,
        "event_id": str(uuid.uuid4()),
        "occurred_at": now,
        "kind": "STATUS_CHANGED",
        "status": "RUNNING",
        "audience_size": 1,
        "script": {
            "nodes": [
                {"id": "start", "type": "message", "script_type": "button"},
                {"id": "end", "type": "message", "script_type": "end"},
            ],
            "edges": [{"source": "start", "target": "end", "label": "Yes"}],
        },
    }
    yield "notification_sent", {
        **common,
        "event_id": str(uuid.uuid4()),
        "occurred_at": now + 1,
        "user_id": "user-1",
        "node_id": "start",
        "first_message": True,
        "warning_message": False,
    }
    yield "user_interaction", {
        **common,
        "event_id": str(uuid.uuid4()),
        "occurred_at": now + 2,
        "user_id": "user-1",
        "selected_action": "Yes",
        "answer_target": "end",
        "answer_title": "Yes",
        "question": "Ready?",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default=os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092"))
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--campaign", default="python-example")
    args = parser.parse_args()
    # acks=all and idempotence: a retried send is not written twice; the
    # event_id makes a re-sent event count once anyway.
    producer = Producer({"bootstrap.servers": args.brokers, "acks": "all", "enable.idempotence": True})
    for kind, record in demo_events(args.tenant, args.campaign):
        topic, avsc = KINDS[kind]
        schema = load_schema(os.path.join(SCHEMAS_DIR, avsc))
        producer.produce(topic, key=record["campaign_id"], value=encode_single_object(schema, record))
    remaining = producer.flush(30)
    if remaining:
        raise SystemExit(f"{remaining} events not acknowledged by the broker")
    print(f"produced 3 events of campaign {args.campaign} (tenant {args.tenant})")


if __name__ == "__main__":
    main()
