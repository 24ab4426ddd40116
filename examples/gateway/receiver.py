#!/usr/bin/env python3
"""A Switchboard gateway receiver in Python, standard library only.

It verifies each forwarded event's Standard Webhooks signature (HMAC-SHA256 of
"{webhook-id}.{webhook-timestamp}.{body}" with the whsec_ secret, timestamp within 5 minutes),
and answers a message with a synchronous reply: {"messages": [{"text": "echo: ..."}]}.
Switchboard queues that reply in the same transaction that marks the event delivered, so it is
sent once even if something crashes.

Run:  FORWARD_SECRET=whsec_... python3 examples/gateway/receiver.py 8081
with  [[gateway.forward]] url = "http://127.0.0.1:8081/events", secrets = ["${FORWARD_SECRET}"]
(and allow_private_targets = true for a local address).
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = base64.b64decode(os.environ["FORWARD_SECRET"].removeprefix("whsec_"))
TOLERANCE = 5 * 60


def verified(headers, body):
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig.removeprefix("v1,"), expected)
        for sig in headers.get("webhook-signature", "").split(" ")
        if sig.startswith("v1,")
    )


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if not verified(self.headers, body):
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        answer = {}
        if event["type"] == "message.received":
            text = event["data"]["kind"].get("text", "")
            answer = {"messages": [{"text": f"echo: {text}"}]}
        out = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8081), Receiver)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
