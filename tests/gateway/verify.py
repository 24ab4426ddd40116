"""Verifies forwarded requests with the official Standard Webhooks library (PyPI
`standardwebhooks`). Input: a JSON file of {"secret", "requests": [{"headers", "body"}]}.
Prints "verified N"; exits 3 when the library is missing, 1 when a request does not verify."""
import json
import sys

try:
    from standardwebhooks.webhooks import Webhook
except ImportError as e:
    print(f"standardwebhooks is not installed: {e}", file=sys.stderr)
    sys.exit(3)

with open(sys.argv[1], encoding="utf-8") as f:
    case = json.load(f)
wh = Webhook(case["secret"])
for r in case["requests"]:
    payload = wh.verify(r["body"], r["headers"])
    assert payload["data"]["id"], payload
print(f"verified {len(case['requests'])}")
