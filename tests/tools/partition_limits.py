#!/usr/bin/env python3
"""DynamoDB's per-partition throughput limits, modelled in front of moto_server.

moto accepts any request rate, so a key design that puts every item under one
partition key value looks as fast as one that spreads them. DynamoDB does not: each
partition serves at most 1,000 write units and 3,000 read units per second, on
on-demand tables too, and refuses more with a throttling error
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/throttling-key-range-limit-exceeded-mitigation.html).
This HTTP proxy forwards everything to an upstream moto and, for DynamoDB's data-plane
operations, first charges a token bucket per (table, partition key value), scaled
down (default 100 write and 300 read units per second per key). A key here stands for
its partition: DynamoDB can split one key's item collection for heat, but not the
end of a collection that every new item lands on, which is this service's case.

Usage (listens on 127.0.0.1 only; every flag has a PARTITION_LIMITS_* variable):

    partition_limits.py --upstream http://127.0.0.1:5000 [--port 0] \
        [--write-units-per-key 100] [--read-units-per-key 300] [--burst-seconds 1] \
        [--throttle-error ProvisionedThroughputExceededException|ThrottlingException]

It prints `partition_limits: listening on http://127.0.0.1:PORT` once it accepts
connections. `GET /_limits/stats` answers the units consumed and the requests admitted
and throttled, per table and partition key value; `POST /_limits/reset` zeroes them
and refills every bucket (a bench between two runs).

What is charged (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
- Writes, before forwarding, so a conditional write that fails still costs: PutItem,
  UpdateItem, DeleteItem, each item of BatchWriteItem and (twice, as DynamoDB charges
  transactions) of TransactWriteItems. One unit per KB, rounded up: a Put by the item
  it writes; an Update by its key and new values (DynamoDB charges the larger of the
  item before and after, which only a read could tell); a Delete one unit (DynamoDB:
  the deleted item's size; the service's items are under 1 KB).
- Reads: GetItem, Query (against the partition its key condition names; a GSI's
  partitions are their own buckets, an LSI shares its table's), each key of
  BatchGetItem and (twice) TransactGetItems. The least a read can cost (1 unit, 0.5 if
  eventually consistent) is charged before forwarding; the rest after the response,
  by the bytes returned, one unit per 4 KB: a Query sums its items and rounds once, as
  DynamoDB does. A Query that filtered items out is scaled by ScannedCount/Count (it
  paid for what it read); a projection makes the figure an underestimate.
- Scan, PartiQL (ExecuteStatement), the control plane and every other service (Secrets
  Manager on the same moto) pass through uncharged and untouched.

A request is admitted while its bucket holds what the request is known to cost (or is
full, for a request costing more than the bucket holds); a read's remainder, charged
after its response, may leave the bucket in debt, repaid by the refill. Buckets refill
continuously at the rate and hold `--burst-seconds` of it, the scaled-down burst
capacity. Throttled requests consume nothing and never reach moto.

How a throttled request is answered, as DynamoDB answers it:
- HTTP 400, `Content-Type: application/x-amz-json-1.0`, `x-amzn-RequestId`, `x-amz-crc32`
  (CRC32 of the body, which botocore checks) and `x-amzn-ErrorType`, with the body
  `{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
  "message": "...", "ThrottlingReasons": [{"reason": "TableWriteKeyRangeThroughputExceeded",
  "resource": "<table ARN>"}]}` (API_ThrottlingReason.html below). AWS SDKs take the
  error code from `x-amzn-ErrorType` or `__type` after the `#`
  (https://smithy.io/2.0/aws/protocols/aws-json-1_0-protocol.html#operation-error-serialization)
  and retry both codes below as throttling errors.
- `--throttle-error ThrottlingException` answers the form on-demand tables have been
  seen to return for a hot key instead: `{"__type":
  "com.amazon.coral.availability#ThrottlingException", "message": ..., "throttlingReasons":
  [...]}` (the member is spelt so in DynamoDB's API model).
- BatchWriteItem and BatchGetItem process what they can: throttled items come back in
  UnprocessedItems / UnprocessedKeys, and only when none could be processed is the
  whole call refused with the error above
  (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html).
- TransactWriteItems and TransactGetItems are cancelled as a whole:
  TransactionCanceledException with a CancellationReasons entry per item, `ThrottlingError`
  for the throttled ones and `None` for the others
  (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
  SDKs do not retry that error.
The message is the one DynamoDB documents for an on-demand table's throttled write
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ThrottlingReason.html
for the reasons). Requests forwarded after a batch is trimmed carry their original
signature, which moto does not check.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import math
import os
import re
import sys
import threading
import time
import urllib.parse
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGET_PREFIX = "DynamoDB_20120810."
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
# What DynamoDB says when an on-demand table's partition is past its limit (the
# ThrottlingError reason of API_TransactWriteItems.html); the same for every form here.
THROTTLED_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is "
    "automatically scaling your table or index so please try again shortly. If "
    "exceptions persist, check if you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html")
THROTTLE_ERRORS = {
    "ProvisionedThroughputExceededException": (ERROR_PREFIX + "ProvisionedThroughputExceededException",
                                               "ThrottlingReasons"),
    "ThrottlingException": ("com.amazon.coral.availability#ThrottlingException", "throttlingReasons"),
}
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
# Headers that belong to one connection, not to the request or response (RFC 9110 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
              "upgrade", "expect", "content-length"}


# --- What a request costs -----------------------------------------------------------

def attribute_value_size(value: dict) -> int:
    """Bytes of one AttributeValue as DynamoDB counts them (CapacityUnitCalculations)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0")
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(attribute_value_size({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_value_size(v) for k, v in inner.items())
    return len(json.dumps(inner))


def item_size(item: dict) -> int:
    """Bytes of an item (or a key): attribute names plus values."""
    return sum(len(name.encode()) + attribute_value_size(value) for name, value in item.items())


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / WRITE_UNIT_BYTES)))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def render_key(value: dict) -> str:
    """A partition key value as the stats show it: strings bare, others typed."""
    (kind, inner), = value.items()
    return inner if kind == "S" else f"{kind}:{inner}"


# --- Tables' key schemas ------------------------------------------------------------

@dataclass(frozen=True)
class TableKeys:
    """The partition key attribute of a table and of each of its global secondary
    indexes, learned from DescribeTable."""
    arn: str
    partition_key: str
    index_partition_keys: dict[str, str]


def table_name(name_or_arn: str) -> str:
    """TableName may be an ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)."""
    return name_or_arn.split(":table/", 1)[1] if name_or_arn.startswith("arn:") else name_or_arn


def hash_key(schema: list[dict]) -> str:
    return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")


# --- Token buckets ------------------------------------------------------------------

@dataclass
class Bucket:
    """A token bucket of capacity units; `level` may go below zero (debt)."""
    rate: float
    capacity: float
    level: float
    stamp: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def holds(self, units: float) -> bool:
        return self.level >= min(units, self.capacity)


@dataclass
class KeyCounters:
    units: float = 0.0
    admitted: int = 0
    throttled: int = 0


@dataclass(frozen=True)
class Charge:
    """Units one item of a request costs against one partition: `kind` is "read" or
    "write", `partition` (table or table/index/NAME, rendered key value)."""
    kind: str
    partition: tuple[str, str]
    units: float


@dataclass
class Limits:
    """The buckets and counters of every partition seen, behind one lock."""
    write_rate: float
    read_rate: float
    burst_seconds: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    buckets: dict[tuple[str, tuple[str, str]], Bucket] = field(default_factory=dict)
    counters: dict[tuple[str, tuple[str, str]], KeyCounters] = field(default_factory=dict)

    def _bucket(self, kind: str, partition: tuple[str, str], now: float) -> Bucket:
        bucket = self.buckets.get((kind, partition))
        if bucket is None:
            rate = self.write_rate if kind == "write" else self.read_rate
            capacity = max(rate * self.burst_seconds, 1.0)
            bucket = self.buckets[(kind, partition)] = Bucket(rate, capacity, capacity, now)
        else:
            bucket.refill(now)
        return bucket

    def _count(self, kind: str, partition: tuple[str, str]) -> KeyCounters:
        return self.counters.setdefault((kind, partition), KeyCounters())

    def admit(self, charges: list[Charge], all_or_nothing: bool) -> list[bool]:
        """Takes the units of the charges it admits; says which. All or none of them
        when `all_or_nothing` (a transaction, or a single-item call)."""
        now = time.monotonic()
        with self.lock:
            wanted: dict[tuple[str, tuple[str, str]], float] = {}
            for c in charges:
                wanted[(c.kind, c.partition)] = wanted.get((c.kind, c.partition), 0.0) + c.units
            if all_or_nothing:
                ok = all(self._bucket(kind, p, now).holds(units) for (kind, p), units in wanted.items())
                admitted = [ok] * len(charges)
            else:
                admitted = self._fit_one_by_one(charges, now)
            for c, ok in zip(charges, admitted):
                counters = self._count(c.kind, c.partition)
                if ok:
                    self.buckets[(c.kind, c.partition)].level -= c.units
                    counters.units += c.units
                    counters.admitted += 1
                else:
                    counters.throttled += 1
            return admitted

    def _fit_one_by_one(self, charges: list[Charge | None], now: float) -> list[bool]:
        """Which charges the buckets can pay, taken in order (a batch's items)."""
        taken: dict[tuple[str, tuple[str, str]], float] = {}
        fits = []
        for c in charges:
            if c is None:
                fits.append(True)
                continue
            key = (c.kind, c.partition)
            bucket = self._bucket(c.kind, c.partition, now)
            spent = taken.get(key, 0.0)
            fit = bucket.holds(c.units) if spent == 0.0 else bucket.level - spent >= c.units
            if fit:
                taken[key] = spent + c.units
            fits.append(fit)
        return fits

    def which_fit(self, charges: list[Charge | None]) -> list[bool]:
        """Like a batch's admission, but takes nothing: which items of a refused
        transaction were not the ones short of units."""
        with self.lock:
            return self._fit_one_by_one(charges, time.monotonic())

    def settle(self, kind: str, partition: tuple[str, str], units: float) -> None:
        """Charges what a read turned out to cost beyond what admitted it."""
        if units <= 0:
            return
        now = time.monotonic()
        with self.lock:
            self._bucket(kind, partition, now).level -= units
            self._count(kind, partition).units += units

    def stats(self) -> dict:
        with self.lock:
            tables: dict[str, dict[str, dict]] = {}
            totals = {kind: {"units": 0.0, "admitted": 0, "throttled": 0} for kind in ("read", "write")}
            for (kind, (table, key)), c in sorted(self.counters.items()):
                entry = tables.setdefault(table, {}).setdefault(key, {
                    f"{k}_{f}": (0.0 if f == "units" else 0)
                    for k in ("read", "write") for f in ("units", "admitted", "throttled")})
                entry[f"{kind}_units"] += c.units
                entry[f"{kind}_admitted"] += c.admitted
                entry[f"{kind}_throttled"] += c.throttled
                totals[kind]["units"] += c.units
                totals[kind]["admitted"] += c.admitted
                totals[kind]["throttled"] += c.throttled
            return {
                "config": {"write_units_per_key": self.write_rate, "read_units_per_key": self.read_rate,
                           "burst_seconds": self.burst_seconds},
                "tables": tables,
                "totals": totals,
            }

    def reset(self) -> None:
        with self.lock:
            self.buckets.clear()
            self.counters.clear()


# --- The proxy ----------------------------------------------------------------------

class Upstream:
    """Keep-alive HTTP connections to moto, one per proxy thread."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or parsed.hostname is None:
            raise SystemExit(f"--upstream must be http://HOST:PORT, not {url!r}")
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.local = threading.local()

    def request(self, method: str, path: str, body: bytes, headers: list[tuple[str, str]]
                ) -> tuple[int, list[tuple[str, str]], bytes]:
        for attempt in range(2):
            connection = getattr(self.local, "connection", None)
            reused = connection is not None
            if connection is None:
                connection = self.local.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value)
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                self.local.connection = None
                # A kept-alive connection the server closed while idle: send once more
                # on a new one. A fresh connection failing is an answer to pass on.
                if reused and attempt == 0:
                    continue
                raise
            if response.will_close:
                connection.close()
                self.local.connection = None
            return response.status, response.getheaders(), data
        raise AssertionError("unreachable")


def error_response(error_type: str, body: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    data = json.dumps(body).encode()
    return 400, [
        ("Content-Type", JSON_CONTENT_TYPE),
        ("x-amzn-RequestId", (uuid.uuid4().hex + uuid.uuid4().hex).upper()[:52]),
        ("x-amz-crc32", str(zlib.crc32(data))),
        ("x-amzn-ErrorType", error_type.split("#", 1)[-1]),
    ], data


class LimitsProxy:
    """The charging rules: which operation costs what on which partition, and how a
    throttled one is answered."""

    def __init__(self, upstream: Upstream, limits: Limits, throttle_error: str) -> None:
        self.upstream = upstream
        self.limits = limits
        self.throttle_error = throttle_error
        self.tables: dict[tuple[str, str], TableKeys] = {}
        self.tables_lock = threading.Lock()

    # Table key schemas, learned from moto once per table.
    def table_keys(self, name: str, headers: list[tuple[str, str]]) -> TableKeys | None:
        cache_key = (region_of(headers), name)
        keys = self.tables.get(cache_key)
        if keys is not None:
            return keys
        body = json.dumps({"TableName": name}).encode()
        described = [(n, v) for n, v in headers if n.lower() != "x-amz-target"]
        described.append(("X-Amz-Target", TARGET_PREFIX + "DescribeTable"))
        status, _, data = self.upstream.request("POST", "/", body, described)
        if status != 200:
            return None  # no such table: forwarded uncharged, moto answers the error
        table = json.loads(data)["Table"]
        keys = TableKeys(
            arn=table.get("TableArn", name),
            partition_key=hash_key(table["KeySchema"]),
            index_partition_keys={i["IndexName"]: hash_key(i["KeySchema"])
                                  for i in table.get("GlobalSecondaryIndexes", [])})
        with self.tables_lock:
            self.tables[cache_key] = keys
        return keys

    def forget_table(self, request: dict, headers: list[tuple[str, str]]) -> None:
        name = request.get("TableName")
        if isinstance(name, str):
            with self.tables_lock:
                self.tables.pop((region_of(headers), table_name(name)), None)

    def partition(self, table: str, keys: TableKeys, item: dict, index: str | None = None
                  ) -> tuple[str, str] | None:
        attribute = keys.index_partition_keys.get(index, keys.partition_key) if index else keys.partition_key
        value = item.get(attribute)
        if value is None:
            return None
        bucket_table = f"{table}/index/{index}" if index and index in keys.index_partition_keys else table
        return bucket_table, render_key(value)

    def throttled(self, kind: str, arn: str) -> tuple[int, list[tuple[str, str]], bytes]:
        error_type, reasons_member = THROTTLE_ERRORS[self.throttle_error]
        reason = f"Table{kind.capitalize()}KeyRangeThroughputExceeded"
        return error_response(error_type, {
            "__type": error_type, "message": THROTTLED_MESSAGE,
            reasons_member: [{"reason": reason, "resource": arn}]})

    def cancelled(self, admitted_per_item: list[bool]) -> tuple[int, list[tuple[str, str]], bytes]:
        codes = ["None" if ok else "ThrottlingError" for ok in admitted_per_item]
        error_type = ERROR_PREFIX + "TransactionCanceledException"
        return error_response(error_type, {
            "__type": error_type,
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                       f"[{', '.join(codes)}]",
            "CancellationReasons": [{"Code": "None"} if ok else {"Code": "ThrottlingError", "Message": THROTTLED_MESSAGE}
                                    for ok in admitted_per_item]})

    def handle(self, operation: str, body: bytes, headers: list[tuple[str, str]], path: str
               ) -> tuple[int, list[tuple[str, str]], bytes]:
        handler = getattr(self, "op_" + operation, None)
        if handler is None:
            if operation in ("CreateTable", "DeleteTable", "UpdateTable"):
                try:
                    self.forget_table(json.loads(body), headers)
                except ValueError:
                    pass
            return self.upstream.request("POST", path, body, headers)
        try:
            request = json.loads(body)
        except ValueError:
            return self.upstream.request("POST", path, body, headers)
        try:
            return handler(request, body, headers, path)
        except (KeyError, TypeError, ValueError, AttributeError, StopIteration):
            # A request this model cannot read (DynamoDB would refuse it as invalid):
            # moto answers it, uncharged. Writes fail here only before they are sent.
            return self.upstream.request("POST", path, body, headers)

    def forward(self, request: dict | None, body: bytes, headers, path):
        data = body if request is None else json.dumps(request).encode()
        return self.upstream.request("POST", path, data, headers)

    def _single(self, request: dict, body: bytes, headers, path, kind: str, units_of) -> tuple:
        """A one-item operation: charge its partition or forward it uncharged."""
        name = table_name(request.get("TableName", ""))
        keys = self.table_keys(name, headers) if name else None
        item = request.get("Item") or request.get("Key") or {}
        partition = self.partition(name, keys, item) if keys else None
        if partition is None:
            return self.forward(None, body, headers, path)
        charge = Charge(kind, partition, units_of(request))
        if not self.limits.admit([charge], all_or_nothing=True)[0]:
            return self.throttled(kind, keys.arn)
        response = self.forward(None, body, headers, path)
        if kind == "read" and response[0] == 200:
            returned = json.loads(response[2]).get("Item")
            if returned:
                consistent = bool(request.get("ConsistentRead"))
                self.limits.settle(kind, partition, read_units(item_size(returned), consistent) - charge.units)
        return response

    def op_PutItem(self, request, body, headers, path):
        return self._single(request, body, headers, path, "write",
                            lambda r: write_units(item_size(r.get("Item", {}))))

    def op_UpdateItem(self, request, body, headers, path):
        return self._single(request, body, headers, path, "write", update_units)

    def op_DeleteItem(self, request, body, headers, path):
        return self._single(request, body, headers, path, "write", lambda r: 1.0)

    def op_GetItem(self, request, body, headers, path):
        return self._single(request, body, headers, path, "read",
                            lambda r: read_units(0, bool(r.get("ConsistentRead"))))

    def op_Query(self, request, body, headers, path):
        name = table_name(request.get("TableName", ""))
        keys = self.table_keys(name, headers) if name else None
        index = request.get("IndexName")
        if keys is None:
            return self.forward(None, body, headers, path)
        attribute = keys.index_partition_keys.get(index, keys.partition_key) if index else keys.partition_key
        value = query_partition_value(request, attribute)
        if value is None:
            return self.forward(None, body, headers, path)
        partition = self.partition(name, keys, {attribute: value}, index)
        consistent = bool(request.get("ConsistentRead"))
        least = read_units(0, consistent)
        if not self.limits.admit([Charge("read", partition, least)], all_or_nothing=True)[0]:
            return self.throttled("read", keys.arn)
        response = self.forward(None, body, headers, path)
        if response[0] == 200:
            page = json.loads(response[2])
            items = page.get("Items", [])
            size = sum(item_size(i) for i in items)
            count, scanned = page.get("Count", len(items)), page.get("ScannedCount", len(items))
            if count and scanned > count:
                size = size * scanned / count
            self.limits.settle("read", partition, read_units(int(size), consistent) - least)
        return response

    def op_BatchWriteItem(self, request, body, headers, path):
        entries = []  # (table, request entry, charge or None)
        arn = None
        for name_or_arn, writes in request.get("RequestItems", {}).items():
            name = table_name(name_or_arn)
            keys = self.table_keys(name, headers)
            for write in writes:
                charge = None
                if keys is not None:
                    arn = arn or keys.arn
                    if "PutRequest" in write:
                        item = write["PutRequest"].get("Item", {})
                        units = write_units(item_size(item))
                    else:
                        item, units = write.get("DeleteRequest", {}).get("Key", {}), 1.0
                    partition = self.partition(name, keys, item)
                    charge = Charge("write", partition, units) if partition else None
                entries.append((name_or_arn, write, charge))
        return self._batch(request, body, headers, path, entries, arn, "write", "UnprocessedItems")

    def op_BatchGetItem(self, request, body, headers, path):
        entries = []
        arn = None
        tables: dict[str, tuple[TableKeys | None, bool]] = {}
        for name_or_arn, spec in request.get("RequestItems", {}).items():
            name = table_name(name_or_arn)
            keys = self.table_keys(name, headers)
            consistent = bool(spec.get("ConsistentRead"))
            tables[name_or_arn] = (keys, consistent)
            for key in spec.get("Keys", []):
                charge = None
                if keys is not None:
                    arn = arn or keys.arn
                    partition = self.partition(name, keys, key)
                    charge = Charge("read", partition, read_units(0, consistent)) if partition else None
                entries.append((name_or_arn, key, charge))
        response = self._batch(request, body, headers, path, entries, arn, "read", "UnprocessedKeys")
        if response[0] == 200:
            for name_or_arn, items in json.loads(response[2]).get("Responses", {}).items():
                keys, consistent = tables.get(name_or_arn, (None, False))
                for item in items if keys else []:
                    partition = self.partition(table_name(name_or_arn), keys, item)
                    if partition:
                        self.limits.settle("read", partition,
                                           read_units(item_size(item), consistent) - read_units(0, consistent))
        return response

    def _batch(self, request, body, headers, path, entries, arn, kind, unprocessed_member):
        charges = [c for _, _, c in entries if c is not None]
        if not charges:
            return self.forward(None, body, headers, path)
        admitted = iter(self.limits.admit(charges, all_or_nothing=False))
        kept: dict[str, list] = {}
        refused: dict[str, list] = {}
        for name_or_arn, entry, charge in entries:
            (kept if charge is None or next(admitted) else refused).setdefault(name_or_arn, []).append(entry)
        if not refused:
            return self.forward(None, body, headers, path)
        if not kept:
            return self.throttled(kind, arn)
        trimmed = dict(request)
        if kind == "write":
            trimmed["RequestItems"] = kept
        else:
            trimmed["RequestItems"] = {name: {**request["RequestItems"][name], "Keys": ks}
                                       for name, ks in kept.items()}
        status, response_headers, data = self.forward(trimmed, body, headers, path)
        if status != 200:
            return status, response_headers, data
        page = json.loads(data)
        unprocessed = page.setdefault(unprocessed_member, {})
        for name, entries_refused in refused.items():
            if kind == "write":
                unprocessed.setdefault(name, []).extend(entries_refused)
            else:
                spec = unprocessed.setdefault(name, {k: v for k, v in request["RequestItems"][name].items()
                                                     if k != "Keys"})
                spec.setdefault("Keys", []).extend(entries_refused)
        data = json.dumps(page).encode()
        response_headers = [(n, v) for n, v in response_headers if n.lower() != "x-amz-crc32"]
        response_headers.append(("x-amz-crc32", str(zlib.crc32(data))))
        return status, response_headers, data

    def op_TransactWriteItems(self, request, body, headers, path):
        return self._transact(request, body, headers, path, "write")

    def op_TransactGetItems(self, request, body, headers, path):
        return self._transact(request, body, headers, path, "read")

    def _transact(self, request, body, headers, path, kind):
        per_item: list[Charge | None] = []
        arn = None
        for entry in request.get("TransactItems", []):
            (action, spec), = entry.items()
            name = table_name(spec.get("TableName", ""))
            keys = self.table_keys(name, headers) if name else None
            charge = None
            if keys is not None:
                arn = arn or keys.arn
                item = spec.get("Item") or spec.get("Key") or {}
                partition = self.partition(name, keys, item)
                if partition:
                    if action == "Put":
                        units = write_units(item_size(item))
                    elif action == "Update":
                        units = update_units(spec)
                    else:  # Delete, ConditionCheck: a small write; Get: the least read
                        units = 1.0
                    charge = Charge(kind, partition, 2 * units)  # transactions cost double
            per_item.append(charge)
        charges = [c for c in per_item if c is not None]
        if not charges:
            return self.forward(None, body, headers, path)
        if not self.limits.admit(charges, all_or_nothing=True)[0]:
            return self.cancelled(self.limits.which_fit(per_item))
        response = self.forward(None, body, headers, path)
        if kind == "read" and response[0] == 200:
            for charge, got in zip(per_item, json.loads(response[2]).get("Responses", [])):
                if charge and got.get("Item"):
                    self.limits.settle("read", charge.partition,
                                       2 * read_units(item_size(got["Item"]), True) - charge.units)
        return response


def update_units(request: dict) -> float:
    """An update's key and new values, by the KB (the item's own size is unknown here)."""
    size = item_size(request.get("Key", {}))
    size += sum(attribute_value_size(v) for v in request.get("ExpressionAttributeValues", {}).values())
    size += sum(attribute_value_size(u["Value"]) for u in request.get("AttributeUpdates", {}).values()
                if "Value" in u)
    return write_units(size)


_EQUALITY = re.compile(r"([#:]?[A-Za-z0-9_.\-]+)\s*=\s*([#:]?[A-Za-z0-9_.\-]+)")


def query_partition_value(request: dict, attribute: str) -> dict | None:
    """The partition key value a Query addresses: the `attribute = :value` term of its
    KeyConditionExpression (either side, through #aliases), or the EQ of KeyConditions."""
    expression = request.get("KeyConditionExpression")
    if expression:
        names = request.get("ExpressionAttributeNames", {})
        values = request.get("ExpressionAttributeValues", {})
        for left, right in _EQUALITY.findall(expression):
            for name, value in ((left, right), (right, left)):
                if value.startswith(":") and names.get(name, name) == attribute and value in values:
                    return values[value]
        return None
    condition = request.get("KeyConditions", {}).get(attribute)
    if condition and condition.get("ComparisonOperator") == "EQ":
        return condition["AttributeValueList"][0]
    return None


def region_of(headers: list[tuple[str, str]]) -> str:
    """The region of a SigV4 request (Credential=AKID/DATE/REGION/SERVICE/aws4_request)."""
    for name, value in headers:
        if name.lower() == "authorization":
            match = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/", value)
            if match:
                return match.group(1)
    return ""


class ProxyHandler(BaseHTTPRequestHandler):
    """One client connection: HTTP/1.1 keep-alive, each request forwarded or answered."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    proxy: LimitsProxy  # set on the subclass `serve` makes

    def log_message(self, format: str, *args) -> None:
        pass  # quiet: hundreds of requests a second

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self) -> None:
        body = self._body()
        headers = [(n, v) for n, v in self.headers.items() if n.lower() not in HOP_BY_HOP]
        target = self.headers.get("X-Amz-Target", "")
        try:
            if self.command == "POST" and target.startswith(TARGET_PREFIX):
                answer = self.proxy.handle(target[len(TARGET_PREFIX):], body, headers, self.path)
            else:
                answer = self.proxy.upstream.request(self.command, self.path, body, headers)
        except (OSError, http.client.HTTPException) as error:
            data = json.dumps({"message": f"partition_limits: upstream failed: {error}"}).encode()
            answer = 502, [("Content-Type", "application/json")], data
        self._answer(*answer)

    def do_GET(self) -> None:
        if self.path == "/_limits/stats":
            data = json.dumps(self.proxy.limits.stats(), indent=1).encode()
            return self._answer(200, [("Content-Type", "application/json")], data)
        if self.path == "/_limits/health":
            return self._answer(200, [("Content-Type", "text/plain")], b"ok\n")
        self._forward()

    def do_POST(self) -> None:
        if self.path == "/_limits/reset":
            self._body()
            self.proxy.limits.reset()
            return self._answer(204, [], b"")
        self._forward()

    do_PUT = do_DELETE = do_PATCH = _forward


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the bench opens many connections at once


def serve(args: argparse.Namespace) -> None:
    limits = Limits(args.write_units_per_key, args.read_units_per_key, args.burst_seconds)
    handler = type("Handler", (ProxyHandler,), {
        "proxy": LimitsProxy(Upstream(args.upstream), limits, args.throttle_error)})
    server = Server(("127.0.0.1", args.port), handler)
    print(f"partition_limits: listening on http://127.0.0.1:{server.server_address[1]} "
          f"(upstream {args.upstream}; per key: {args.write_units_per_key:g} write and "
          f"{args.read_units_per_key:g} read units/s, {args.burst_seconds:g} s of burst)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", default=env("PARTITION_LIMITS_UPSTREAM"),
                        help="moto's URL, http://127.0.0.1:PORT (PARTITION_LIMITS_UPSTREAM)")
    parser.add_argument("--port", type=int, default=int(env("PARTITION_LIMITS_PORT", "0")),
                        help="port on 127.0.0.1; 0 picks a free one (PARTITION_LIMITS_PORT)")
    parser.add_argument("--write-units-per-key", type=float,
                        default=float(env("PARTITION_LIMITS_WRITE_UNITS_PER_KEY", "100")),
                        help="write units per second per partition key value; DynamoDB: 1000")
    parser.add_argument("--read-units-per-key", type=float,
                        default=float(env("PARTITION_LIMITS_READ_UNITS_PER_KEY", "300")),
                        help="read units per second per partition key value; DynamoDB: 3000")
    parser.add_argument("--burst-seconds", type=float, default=float(env("PARTITION_LIMITS_BURST_SECONDS", "1")),
                        help="seconds of unused units a bucket keeps (PARTITION_LIMITS_BURST_SECONDS)")
    parser.add_argument("--throttle-error", choices=sorted(THROTTLE_ERRORS),
                        default=env("PARTITION_LIMITS_THROTTLE_ERROR", "ProvisionedThroughputExceededException"),
                        help="the error a throttled single-item or batch call gets")
    args = parser.parse_args(argv)
    if not args.upstream:
        parser.error("--upstream (or PARTITION_LIMITS_UPSTREAM) is required")
    if args.write_units_per_key <= 0 or args.read_units_per_key <= 0 or args.burst_seconds <= 0:
        parser.error("rates and --burst-seconds must be positive")
    return args


if __name__ == "__main__":
    serve(parse_args(sys.argv[1:]))
