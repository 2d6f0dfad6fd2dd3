"""The fingerprint fixture the Rust codec is tested against is what fastavro
computes today (so the Rust test compares with an independent
implementation, not with a copy of our own output)."""

import json
import os

import fastavro
from fastavro_fingerprints import ROOT, compute

FIXTURE = os.path.join(ROOT, "schemas/tests/fixtures/fastavro_fingerprints.json")


def test_fixture_is_what_fastavro_computes():
    with open(FIXTURE, encoding="utf-8") as f:
        fixture = json.load(f)
    assert fixture == compute(), (
        f"regenerate with fastavro {fastavro.__version__}: "
        "python tests/python/fastavro_fingerprints.py > schemas/tests/fixtures/fastavro_fingerprints.json"
    )


def test_logical_types_are_stripped_to_the_primitive():
    with open(FIXTURE, encoding="utf-8") as f:
        fixture = json.load(f)
    for entry in fixture["schemas"]:
        assert '"occurred_at","type":"long"' in entry["canonical_form"], entry["file"]
