#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target from the repository's fixtures.

    python3 fuzz/seeds.py OUT_DIR [CONFORMANCE_CASES_JSONL]

OUT_DIR/<target>/ gets one file per seed, named by its SHA-1 (as libFuzzer names its own
finds, so re-seeding an existing corpus adds nothing twice):

- events: every EventBridge event in events/eventbridge/ and events/notifications/, and
  a few near misses of them;
- envelope: the detail of each, behind the byte that names its type, and the details of
  events/entries/;
- pattern_compile: the rule pattern of template.yaml, patterns written here for each
  operator, and the conformance cases' patterns when the cases file is given;
- pattern_match: those patterns, a NUL byte, and each sample event (the conformance
  cases' own pairs too);
- http_orders, http_memberships: the request bodies of events/orders/ and
  events/memberships/ as sequences of requests by Ada, Bob, no one signed in and a
  token without a verified email (see fuzz/src/http.rs for the format).
"""

import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
TYPES = [
    "OrderPlaced",
    "OrderCanceled",
    "MembershipSignedUp",
    "MembershipCanceled",
    "FulfillmentStarted",
    "FulfillmentCanceled",
    "FulfillmentCancelRejected",
    "OrderShipped",
]

PATTERNS = [
    {"source": [{"prefix": "eventmart."}]},
    {"source": ["eventmart.orders"], "detail-type": ["OrderPlaced", "OrderCanceled"]},
    {"detail": {"data": {"total": {"amountMinor": [{"numeric": [">", 0, "<=", 100000]}]}}}},
    {"detail": {"data": {"plan": [{"anything-but": ["monthly"]}]}}},
    {"detail": {"data": {"reason": [{"exists": False}]}}},
    {"detail": {"data": {"email": [{"suffix": "@example.com"}]}}},
    {"detail": {"data": {"email": [{"equals-ignore-case": "ADA@EXAMPLE.COM"}]}}},
    {"detail": {"data": {"sku": [{"wildcard": "SHOE-*"}]}}},
    {"detail": {"data": {"customerId": [{"anything-but": {"prefix": "test-"}}]}}},
    {"$or": [{"detail-type": ["OrderPlaced"]}, {"detail": {"data": {"plan": ["annual"]}}}]},
    {"detail.data.items.sku": ["SHOE-42"], "detail.data.items.quantity": [2]},
    {"detail": {"metadata": {"eventVersion": [1, 1.0, 1e0]}}},
    {"source": [{"cidr": "10.0.0.0/24"}]},
    {"detail": {"data": {"plan": [{"anything-but": {"wildcard": "*nual"}}]}}},
]


def write(out: pathlib.Path, target: str, data: bytes) -> None:
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def compact(v) -> bytes:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


def step(route: int, flags: int, body: bytes) -> bytes:
    return bytes([route, flags]) + body


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    cases = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else None

    events = []
    for f in sorted((EVENTS / "eventbridge").glob("*.json")) + sorted(
        (EVENTS / "notifications").glob("*.json")
    ):
        raw = f.read_bytes()
        events.append(json.loads(raw))
        write(out, "events", raw)
    for e in events:
        write(out, "events", compact(e))
        ty = e.get("detail-type")
        if ty in TYPES and isinstance(e.get("detail"), dict):
            write(out, "envelope", bytes([TYPES.index(ty)]) + compact(e["detail"]))
            # Near misses: another type's name, a missing field, a second version.
            other = dict(e, **{"detail-type": TYPES[(TYPES.index(ty) + 1) % len(TYPES)]})
            write(out, "events", compact(other))
            meta = dict(e["detail"].get("metadata", {}), eventVersion=2)
            write(out, "events", compact(dict(e, detail=dict(e["detail"], metadata=meta))))
    for f in sorted((EVENTS / "entries").glob("*.json")):
        for entry in json.loads(f.read_bytes()):
            if entry.get("DetailType") in TYPES:
                write(out, "envelope", bytes([TYPES.index(entry["DetailType"])]) + entry["Detail"].encode())

    patterns = [compact(p) for p in PATTERNS]
    pairs = []
    if cases and cases.is_file():
        for line in cases.read_text().splitlines():
            if not line.strip():
                continue
            c = json.loads(line)
            p = c.get("pattern")
            p = p.encode() if isinstance(p, str) else compact(p)
            patterns.append(p)
            ev = c.get("event")
            if ev is not None:
                pairs.append((p, ev.encode() if isinstance(ev, str) else compact(ev)))
    for p in patterns:
        write(out, "pattern_compile", p)
    for p in patterns[: len(PATTERNS)]:
        for e in events:
            pairs.append((p, compact(e)))
    for p, e in pairs:
        write(out, "pattern_match", p + b"\0" + e)

    for target, create, cancel in [
        ("http_orders", "orders/place-order.json", "orders/cancel-order.json"),
        ("http_memberships", "memberships/sign-up.json", "memberships/cancel-membership.json"),
    ]:
        create = json.loads((EVENTS / create).read_text())["body"].encode()
        cancel = json.loads((EVENTS / cancel).read_text())["body"].encode()
        seeds = [
            step(0, 0, create),
            step(0, 0, create) + b"\xff" + step(1, 0, cancel) + b"\xff" + step(2, 0, b""),
            # The same key twice, then with another body, then a cancel twice.
            step(0, 0x04, create)
            + b"\xff"
            + step(0, 0x04, create)
            + b"\xff"
            + step(0, 0x04, create.replace(b"EUR", b"USD").replace(b"annual", b"monthly"))
            + b"\xff"
            + step(1, 0x08, cancel)
            + b"\xff"
            + step(1, 0x08, cancel)
            + b"\xff"
            + step(1, 0x00, cancel),
            step(0, 0x10, create),
            step(0, 0x20, create),
            step(0, 0x30, create),
            step(0, 0x0C, create),
            step(0, 0x40, create),
            step(0, 0x80, create),
            step(1, 0x01, cancel),
            step(1, 0x02, cancel),
            step(2, 0x03, b"0193b3a4-1111-7aaa-8bbb-000000000001\n"),
            step(0, 0, b"[]"),
            step(0, 0, b"{"),
            step(0, 0, b""),
            step(0, 0, b'{"items":[{}],"extra":1}'),
            # The customer is the caller, never the body.
            step(0, 0, b'{"customerId":"cust-42","email":"ada@example.com","plan":"annual"}'),
            # Callers (bits 3-4 of byte 0): Bob reads and cancels Ada's, then replays her
            # key; no claims; a token without a verified email.
            step(0, 0x04, create)
            + b"\xff"
            + step(2 | 1 << 3, 0, b"")
            + b"\xff"
            + step(1 | 1 << 3, 0, cancel)
            + b"\xff"
            + step(0 | 1 << 3, 0x04, create)
            + b"\xff"
            + step(2, 0, b""),
            step(0 | 2 << 3, 0, create) + b"\xff" + step(0, 0, create) + b"\xff" + step(2 | 2 << 3, 0, b""),
            step(0 | 3 << 3, 0, create) + b"\xff" + step(2 | 3 << 3, 0, b""),
        ] + [step(r, 0, b"") for r in range(3, 8)]
        for s in seeds:
            write(out, target, s)


if __name__ == "__main__":
    main()
