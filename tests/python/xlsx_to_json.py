"""Print an XLSX workbook as JSON, read with openpyxl (an independent
reader): {"sheets": {name: {"rows": [[cell, ...], ...], "frozen": "A2",
"types": [[type name, ...], ...]}}}. Dates and times become ISO strings.

Usage: xlsx_to_json.py FILE.xlsx
"""

import datetime
import json
import sys

import openpyxl


def value(v):
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    return v


book = openpyxl.load_workbook(sys.argv[1], read_only=False)
sheets = {}
for sheet in book.worksheets:
    rows, types = [], []
    for row in sheet.iter_rows():
        rows.append([value(c.value) for c in row])
        types.append([type(c.value).__name__ for c in row])
    sheets[sheet.title] = {"rows": rows, "types": types, "frozen": sheet.freeze_panes}
json.dump({"sheets": sheets}, sys.stdout)
