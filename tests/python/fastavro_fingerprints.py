"""Fingerprints of the project's .avsc files as fastavro (an independent,
conforming Avro implementation) computes them: the Parsing Canonical Form
and the CRC-64-AVRO fingerprint of the single-object header.

    python tests/python/fastavro_fingerprints.py > schemas/tests/fixtures/fastavro_fingerprints.json

writes the fixture that schemas/tests/canonical.rs checks the Rust codec
against; tests/python/test_fingerprints.py checks the fixture is current.
"""

import glob
import json
import os
import sys

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATTERNS = ["schemas/avro/*.avsc", "schemas/tests/fixtures/*.avsc"]


def compute():
    out = []
    for pattern in PATTERNS:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path, encoding="utf-8") as f:
                schema = parse_schema(json.load(f))
            pcf = to_parsing_canonical_form(schema)
            # fastavro gives the 8 header bytes as hex (little-endian).
            header = fingerprint(pcf, "CRC-64-AVRO")
            out.append(
                {
                    "file": os.path.relpath(path, ROOT),
                    "canonical_form": pcf,
                    "header_hex": header,
                    "fingerprint": int.from_bytes(bytes.fromhex(header), "little"),
                }
            )
    return {"generator": "fastavro", "schemas": out}


if __name__ == "__main__":
    json.dump(compute(), sys.stdout, indent=2)
    sys.stdout.write("\n")
