"""`helm test`: places an order through order-service and long-polls it until
SHIPMENT_SCHEDULED, i.e. payment and shipping both reacted through Kafka. Exits non-zero with
the order's last representation otherwise. Standard library only.

Environment: ORDERS (the API root, e.g. http://orderflow-order-service:8080), TIMEOUT
(seconds to wait for SHIPMENT_SCHEDULED).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

base = os.environ["ORDERS"].rstrip("/")
deadline = time.monotonic() + int(os.environ.get("TIMEOUT", "180"))
body = {"customer_id": "helm-test", "currency": "EUR",
        "items": [{"sku": "book-1", "quantity": 2, "unit_price_cents": 1999}]}
request = urllib.request.Request(base + "/orders", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
with urllib.request.urlopen(request, timeout=30) as response:
    if response.status != 202:
        sys.exit(f"POST /orders answered {response.status}, expected 202")
    order = json.load(response)
print("placed", order["order_id"], order["status"], flush=True)

etag = None
while order["status"] != "SHIPMENT_SCHEDULED":
    if time.monotonic() > deadline:
        sys.exit(f"order {order['order_id']} is still {order['status']}: {json.dumps(order)}")
    # Long poll: the server answers at the order's next change, or 304 after 10 s.
    headers = {"If-None-Match": etag, "Prefer": "wait=10"} if etag else {}
    request = urllib.request.Request(f"{base}/orders/{order['order_id']}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            etag, order = response.headers.get("ETag"), json.load(response)
            print("status", order["status"], flush=True)
    except urllib.error.HTTPError as e:
        if e.code != 304:
            raise
print("order", order["order_id"], "reached SHIPMENT_SCHEDULED", flush=True)
