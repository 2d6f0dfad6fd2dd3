"""Receivers for the end-to-end tests of deliveries: a real SMTP server
(aiosmtpd) and an HTTP server that records every POST, each message or
request written as one JSON file in an output directory.

Usage: sinks.py OUT_DIR SMTP_PORT HTTP_PORT; prints "ready" when both
listen, stops when stdin closes.
"""

import email
import email.policy
import json
import pathlib
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

OUT = pathlib.Path(sys.argv[1])
LOCK = threading.Lock()
COUNT = [0]


def write(kind, record):
    with LOCK:
        COUNT[0] += 1
        n = COUNT[0]
    tmp = OUT / f"{n:05}-{kind}.tmp"
    tmp.write_text(json.dumps(record))
    tmp.rename(OUT / f"{n:05}-{kind}.json")


class Smtp:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        attachments = [
            {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "size": len(part.get_payload(decode=True) or b""),
            }
            for part in msg.iter_attachments()
        ]
        write("mail", {
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "message_id": str(msg["message-id"]),
            "body": body.get_content() if body else "",
            "attachments": attachments,
        })
        return "250 Message accepted for delivery"


class Http(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        write("http", {
            "path": self.path,
            "idempotency_key": self.headers.get("idempotency-key"),
            "body": json.loads(body or b"null"),
        })
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


controller = Controller(Smtp(), hostname="127.0.0.1", port=int(sys.argv[2]))
controller.start()
http = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[3])), Http)
threading.Thread(target=http.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
http.shutdown()
controller.stop()
