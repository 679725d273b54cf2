"""The per-partition limits proxy (tests/tools/partition_limits.py) behaves as DynamoDB's
partitions do: one partition key value throttled past its rate with DynamoDB's error,
N values N times as fast, batches and transactions charged per item and key, the key
attribute learned from the table, everything else passed through.

    target/py/bin/python -m pytest -q tests/tools/test_partition_limits.py   (make partition-limits-self-test)

Starts moto (tests/tools/moto_keepalive.py) and one proxy per test on free ports of
127.0.0.1 and stops them by their own ids; about 30 s. Rates are low (tens of units
per second) so that moto, the proxy and the clients sharing two cores are not what
limits the throughput measured. pytest-style on purpose: `make tools-self-test`
(unittest discovery) collects nothing here.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zlib
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from service import free_port, stop, wait_healthy  # noqa: E402

PY = sys.executable
REGION = "eu-west-1"
CREDENTIALS = {"aws_access_key_id": "AKIAFAKEPARTITION", "aws_secret_access_key": "fake-secret"}
# One attempt: the tests count what the proxy answers, not what botocore retries.
NO_RETRIES = Config(retries={"total_max_attempts": 1}, max_pool_connections=16)
THROTTLED = "ProvisionedThroughputExceededException"


@pytest.fixture(autouse=True)
def time_limit():
    """No test may hang the suite: SIGALRM after 60 s."""
    def expire(*_):
        raise TimeoutError("test_partition_limits: a test ran for over 60 s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def moto():
    """moto with keep-alive (as the bench runs it): (URL, process id)."""
    port = free_port()
    process = subprocess.Popen([PY, str(HERE / "moto_keepalive.py"), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/moto-api/", process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        stop(process)


@pytest.fixture(scope="module")
def moto_url(moto):
    return moto[0]


class Proxy:
    """A running partition_limits.py: its URL, boto3 clients through it, its stats."""

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.pid = pid

    def client(self, service: str = "dynamodb"):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, config=NO_RETRIES, **CREDENTIALS)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_limits/stats", timeout=5) as response:
            return json.load(response)

    def key_stats(self, table: str, key: str) -> dict:
        return self.stats()["tables"].get(table, {}).get(key, {})


@pytest.fixture
def start_proxy(moto_url):
    """start_proxy(*flags) -> Proxy in front of the module's moto; stopped after the test."""
    processes = []

    def start(*flags: str) -> Proxy:
        port = free_port()
        process = subprocess.Popen(
            [PY, str(HERE / "partition_limits.py"), "--upstream", moto_url, "--port", str(port), *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        wait_healthy(f"http://127.0.0.1:{port}/_limits/health", process, timeout=20)
        return Proxy(f"http://127.0.0.1:{port}", process.pid)

    yield start
    for process in processes:
        stop(process)


def create_table(proxy: Proxy, partition_key: str = "pk", sort_key: str = "id") -> str:
    """A fresh on-demand table (through the proxy: control-plane calls pass through)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    proxy.client().create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": partition_key, "KeyType": "HASH"},
                   {"AttributeName": sort_key, "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": partition_key, "AttributeType": "S"},
                              {"AttributeName": sort_key, "AttributeType": "S"}])
    return name


def error_code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def hammer(proxy: Proxy, call, keys: list[str], seconds: float, threads: int = 4) -> tuple[int, int]:
    """Calls `call(client, key, n)` from `threads` threads for `seconds`, cycling over
    `keys`: (admitted, throttled). A throttled thread pauses 20 ms, as a client backing
    off would, so throttled calls do not starve moto of the two cores (the buckets
    hold more than 4 threads' pause refills, so no admitted call is lost to it)."""
    admitted = throttled = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(offset: int) -> None:
        nonlocal admitted, throttled
        client = proxy.client()
        n = offset
        while time.monotonic() < deadline:
            n += threads
            try:
                call(client, keys[n % len(keys)], n)
                with lock:
                    admitted += 1
            except ClientError as error:
                assert error_code(error) == THROTTLED, error.response
                with lock:
                    throttled += 1
                time.sleep(0.02)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return admitted, throttled


# Writes: 20 units/s per key, a quarter second (5 units) of burst.
WRITE_FLAGS = ("--write-units-per-key", "20", "--read-units-per-key", "1000", "--burst-seconds", "0.25")
# Reads: 20 units/s per key, 5 units of burst (as many requests as the writes: strongly
# consistent reads of small items cost one unit each).
READ_FLAGS = ("--write-units-per-key", "1000", "--read-units-per-key", "20", "--burst-seconds", "0.25")
WINDOW = 2.0
# Exact counts: 2 units/s per key and 5 of burst, so what refills while a test runs
# (a few hundred ms) stays under one unit.
EXACT_FLAGS = ("--write-units-per-key", "2", "--read-units-per-key", "2", "--burst-seconds", "2.5")


def test_writes_past_one_keys_rate_are_throttled_with_dynamodbs_error(start_proxy):
    proxy = start_proxy(*EXACT_FLAGS)
    table = create_table(proxy)
    client = proxy.client()
    for n in range(5):  # the burst
        client.put_item(TableName=table, Item={"pk": {"S": "ITEM"}, "id": {"S": str(n)}})
    with pytest.raises(ClientError) as raised:
        client.put_item(TableName=table, Item={"pk": {"S": "ITEM"}, "id": {"S": "next"}})
    response = raised.value.response
    assert error_code(raised.value) == THROTTLED
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ThrottlingReasons"] == [{
        "reason": "TableWriteKeyRangeThroughputExceeded",
        "resource": f"arn:aws:dynamodb:{REGION}:123456789012:table/{table}"}]
    # Another partition key value of the same table is not affected.
    client.put_item(TableName=table, Item={"pk": {"S": "ITEM#1"}, "id": {"S": "next"}})
    # The throttled write never reached moto.
    assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": "ITEM"}, "id": {"S": "next"}})


def test_a_conditional_write_that_fails_still_costs(start_proxy):
    proxy = start_proxy(*EXACT_FLAGS)
    table = create_table(proxy)
    client = proxy.client()
    item = {"pk": {"S": "ITEM"}, "id": {"S": "1"}}
    client.put_item(TableName=table, Item=item)
    for _ in range(4):
        with pytest.raises(ClientError) as raised:
            client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(id)")
        assert error_code(raised.value) == "ConditionalCheckFailedException"
    assert proxy.key_stats(table, "ITEM")["write_units"] == 5
    with pytest.raises(ClientError) as raised:
        client.delete_item(TableName=table, Key=item)
    assert error_code(raised.value) == THROTTLED


def test_throttling_answer_is_dynamodbs_wire_format(start_proxy):
    proxy = start_proxy(*EXACT_FLAGS)
    table = create_table(proxy)
    body = json.dumps({"TableName": table, "Item": {"pk": {"S": "ITEM"}, "id": {"S": "x"}}})
    headers = {"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIAFAKEPARTITION/20250101/{REGION}/dynamodb/"
                                "aws4_request, SignedHeaders=host, Signature=0"}
    connection = http.client.HTTPConnection(proxy.url.removeprefix("http://"), timeout=5)
    statuses = []
    for _ in range(6):
        connection.request("POST", "/", body, headers)
        response = connection.getresponse()
        data = response.read()
        statuses.append(response.status)
    connection.close()
    assert statuses == [200] * 5 + [400]
    assert response.getheader("Content-Type") == "application/x-amz-json-1.0"
    assert response.getheader("x-amzn-ErrorType") == THROTTLED
    assert response.getheader("x-amz-crc32") == str(zlib.crc32(data))
    assert len(response.getheader("x-amzn-RequestId")) == 52
    document = json.loads(data)
    assert document["__type"] == "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
    assert document["message"].startswith("Throughput exceeds the current capacity of your table or index.")


def test_throttling_exception_form_is_available(start_proxy):
    proxy = start_proxy(*EXACT_FLAGS, "--throttle-error", "ThrottlingException")
    table = create_table(proxy)
    client = proxy.client()
    with pytest.raises(ClientError) as raised:
        for n in range(6):
            client.put_item(TableName=table, Item={"pk": {"S": "ITEM"}, "id": {"S": str(n)}})
    assert error_code(raised.value) == "ThrottlingException"
    assert raised.value.response["throttlingReasons"][0]["reason"] == "TableWriteKeyRangeThroughputExceeded"


def test_writes_spread_over_four_keys_get_four_times_the_throughput(start_proxy):
    proxy = start_proxy(*WRITE_FLAGS)
    table = create_table(proxy)

    def put(client, key, n):
        client.put_item(TableName=table, Item={"pk": {"S": key}, "id": {"S": f"{n:08}"}, "name": {"S": "x" * 100}})

    one, one_throttled = hammer(proxy, put, ["ITEM"], WINDOW)
    four, _ = hammer(proxy, put, [f"ITEM#{n}" for n in range(4)], WINDOW)
    ceiling = 5 + 20 * WINDOW  # the burst, then the rate
    print(f"writes in {WINDOW:g} s: one key {one} ({one_throttled} throttled), four keys {four}")
    assert 0.7 * ceiling <= one <= ceiling + 2 and one_throttled > 0
    assert four >= 3.2 * one, (one, four)
    assert four <= 4 * (ceiling + 2)
    per_key = [proxy.key_stats(table, f"ITEM#{n}")["write_units"] for n in range(4)]
    assert max(per_key) <= ceiling + 2, per_key


def test_reads_past_one_keys_rate_are_throttled_and_spread_reads_scale(start_proxy):
    proxy = start_proxy(*READ_FLAGS)
    table = create_table(proxy)
    keys = [f"ITEM#{n}" for n in range(4)]
    for key in ["ITEM", *keys]:
        proxy.client().put_item(TableName=table, Item={"pk": {"S": key}, "id": {"S": "1"}})

    def get(client, key, n):
        client.get_item(TableName=table, Key={"pk": {"S": key}, "id": {"S": "1"}}, ConsistentRead=True)

    one, one_throttled = hammer(proxy, get, ["ITEM"], WINDOW)
    four, _ = hammer(proxy, get, keys, WINDOW)
    ceiling = 5 + 20 * WINDOW
    print(f"reads in {WINDOW:g} s: one key {one} ({one_throttled} throttled), four keys {four}")
    assert 0.7 * ceiling <= one <= ceiling + 2 and one_throttled > 0
    assert four >= 3.2 * one, (one, four)


def test_reads_past_one_keys_rate_are_throttled_with_the_read_reason(start_proxy):
    proxy = start_proxy(*EXACT_FLAGS)
    table = create_table(proxy)
    client = proxy.client()
    client.put_item(TableName=table, Item={"pk": {"S": "ITEM"}, "id": {"S": "1"}})
    key = {"pk": {"S": "ITEM"}, "id": {"S": "1"}}
    for _ in range(5):
        client.get_item(TableName=table, Key=key, ConsistentRead=True)
    with pytest.raises(ClientError) as raised:
        client.get_item(TableName=table, Key=key, ConsistentRead=True)
    assert error_code(raised.value) == THROTTLED
    assert raised.value.response["ThrottlingReasons"][0]["reason"] == "TableReadKeyRangeThroughputExceeded"
    # Another key's bucket is full; an eventually consistent read costs half a unit.
    client.get_item(TableName=table, Key={"pk": {"S": "OTHER"}, "id": {"S": "1"}})
    assert proxy.key_stats(table, "OTHER")["read_units"] == 0.5


def test_query_costs_the_bytes_it_returns_on_the_partition_it_addresses(start_proxy):
    proxy = start_proxy("--read-units-per-key", "1000", "--write-units-per-key", "1000")
    table = create_table(proxy)
    client = proxy.client()
    payload = "x" * 1000
    for n in range(10):
        client.put_item(TableName=table, Item={"pk": {"S": "A"}, "id": {"S": f"{n:02}"}, "body": {"S": payload}})
    client.put_item(TableName=table, Item={"pk": {"S": "B"}, "id": {"S": "00"}})
    # Strings cost their UTF-8 bytes plus their attribute name's (CapacityUnitCalculations).
    item_bytes = len("pk") + 1 + len("id") + 2 + len("body") + len(payload)

    page = client.query(TableName=table, KeyConditionExpression="#p = :p AND id >= :first",
                        ExpressionAttributeNames={"#p": "pk"},
                        ExpressionAttributeValues={":p": {"S": "A"}, ":first": {"S": "00"}}, ConsistentRead=True)
    assert page["Count"] == 10
    assert proxy.key_stats(table, "A")["read_units"] == math.ceil(10 * item_bytes / 4096) == 3
    assert proxy.key_stats(table, "B")["read_units"] == 0  # not charged for A's query
    # Eventually consistent: half.
    client.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "A"}},
                 Limit=4)
    assert proxy.key_stats(table, "A")["read_units"] == 3 + 0.5


def test_query_is_throttled_by_its_partitions_bucket_only(start_proxy):
    proxy = start_proxy("--read-units-per-key", "4", "--burst-seconds", "1")
    table = create_table(proxy)
    client = proxy.client()
    for key in ("A", "B"):
        client.put_item(TableName=table, Item={"pk": {"S": key}, "id": {"S": "1"}})

    def query(key):
        return client.query(TableName=table, KeyConditionExpression="pk = :p",
                            ExpressionAttributeValues={":p": {"S": key}}, ConsistentRead=True)

    with pytest.raises(ClientError) as raised:
        for _ in range(6):
            query("A")
    assert error_code(raised.value) == THROTTLED
    assert query("B")["Count"] == 1


def test_batch_write_charges_each_item_to_its_key_and_returns_throttled_ones_unprocessed(start_proxy):
    # 2 units/s and 5 of burst: refill during the test is below one unit.
    proxy = start_proxy("--write-units-per-key", "2", "--burst-seconds", "2.5")
    table = create_table(proxy)
    client = proxy.client()

    def puts(key, ids):
        return [{"PutRequest": {"Item": {"pk": {"S": key}, "id": {"S": i}}}} for i in ids]

    out = client.batch_write_item(RequestItems={table: puts("A", "abcd") + puts("B", "abcd")})
    assert out["UnprocessedItems"] == {}
    assert proxy.key_stats(table, "A")["write_units"] == 4
    assert proxy.key_stats(table, "B")["write_units"] == 4

    # A has one unit left, C five: A's surplus comes back unprocessed, the rest is written.
    out = client.batch_write_item(RequestItems={table: puts("A", "efgh") + puts("C", "ab")})
    unprocessed = out["UnprocessedItems"][table]
    assert [w["PutRequest"]["Item"]["id"]["S"] for w in unprocessed] == ["f", "g", "h"]
    assert proxy.key_stats(table, "A")["write_throttled"] == 3
    written = client.scan(TableName=table)["Items"]
    assert sorted((i["pk"]["S"], i["id"]["S"]) for i in written if i["pk"]["S"] in "AC") == [
        ("A", "a"), ("A", "b"), ("A", "c"), ("A", "d"), ("A", "e"), ("C", "a"), ("C", "b")]

    # Nothing can be processed: the whole call is refused, as DynamoDB refuses it.
    with pytest.raises(ClientError) as raised:
        client.batch_write_item(RequestItems={table: puts("A", "xy")})
    assert error_code(raised.value) == THROTTLED


def test_batch_get_charges_each_key(start_proxy):
    proxy = start_proxy("--read-units-per-key", "2", "--burst-seconds", "2.5")
    table = create_table(proxy)
    client = proxy.client()
    for key in ("A", "B"):
        for i in "abcdefg":
            client.put_item(TableName=table, Item={"pk": {"S": key}, "id": {"S": i}})
    keys = [{"pk": {"S": "A"}, "id": {"S": i}} for i in "abcdefg"] + [{"pk": {"S": "B"}, "id": {"S": "a"}}]
    out = client.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    assert len(out["Responses"][table]) == 6  # A's five units, B's one
    assert len(out["UnprocessedKeys"][table]["Keys"]) == 2
    assert out["UnprocessedKeys"][table]["ConsistentRead"] is True
    assert proxy.key_stats(table, "A")["read_units"] == 5
    assert proxy.key_stats(table, "B")["read_units"] == 1


def test_transactions_cost_double_per_key_and_are_cancelled_when_a_key_is_short(start_proxy):
    proxy = start_proxy("--write-units-per-key", "2", "--read-units-per-key", "2", "--burst-seconds", "2.5")
    table = create_table(proxy)
    client = proxy.client()

    def put(key, i):
        return {"Put": {"TableName": table, "Item": {"pk": {"S": key}, "id": {"S": i}}}}

    client.transact_write_items(TransactItems=[put("A", "a"), put("B", "a")])
    assert proxy.key_stats(table, "A")["write_units"] == 2
    assert proxy.key_stats(table, "B")["write_units"] == 2
    client.transact_write_items(TransactItems=[put("A", "b")])  # A: 1 unit left

    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=[put("A", "c"), put("C", "a")])
    assert error_code(raised.value) == "TransactionCanceledException"
    assert [r["Code"] for r in raised.value.response["CancellationReasons"]] == ["ThrottlingError", "None"]
    # All or nothing: C was not written, and C's units were not taken.
    assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": "C"}, "id": {"S": "a"}})
    assert proxy.key_stats(table, "C").get("write_units", 0) == 0

    got = client.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"pk": {"S": "B"},
                                                                                         "id": {"S": "a"}}}}])
    assert got["Responses"][0]["Item"]["id"]["S"] == "a"
    assert proxy.key_stats(table, "B")["read_units"] == 2
    with pytest.raises(ClientError) as raised:
        client.transact_get_items(TransactItems=[
            {"Get": {"TableName": table, "Key": {"pk": {"S": "B"}, "id": {"S": i}}}} for i in "ab"])
    assert [r["Code"] for r in raised.value.response["CancellationReasons"]] == ["None", "ThrottlingError"]


def test_the_partition_key_attribute_comes_from_the_tables_key_schema(start_proxy):
    proxy = start_proxy(*EXACT_FLAGS)
    # The partition key is `tenant`; each item also has a `pk` attribute of its own, so
    # a proxy that assumed `pk` would see eight keys and throttle nothing.
    table = create_table(proxy, partition_key="tenant", sort_key="sk")
    client = proxy.client()
    with pytest.raises(ClientError) as raised:
        for n in range(8):
            client.put_item(TableName=table, Item={
                "tenant": {"S": "acme"}, "sk": {"S": str(n)}, "pk": {"S": f"ITEM#{n}"}})
    assert error_code(raised.value) == THROTTLED
    assert proxy.key_stats(table, "acme")["write_admitted"] == 5
    assert set(proxy.stats()["tables"][table]) == {"acme"}


def test_other_requests_pass_through_uncharged(start_proxy):
    proxy = start_proxy(*WRITE_FLAGS)
    table = create_table(proxy)
    dynamodb = proxy.client()
    assert dynamodb.describe_table(TableName=table)["Table"]["TableName"] == table
    assert dynamodb.scan(TableName=table)["Count"] == 0
    secrets = proxy.client("secretsmanager")
    name = f"secret-{uuid.uuid4().hex[:8]}"
    secrets.create_secret(Name=name, SecretString="s3cr3t")
    for _ in range(10):  # well past any bucket: Secrets Manager is not charged
        assert secrets.get_secret_value(SecretId=name)["SecretString"] == "s3cr3t"
    assert proxy.stats()["totals"] == {kind: {"units": 0.0, "admitted": 0, "throttled": 0}
                                       for kind in ("read", "write")}


def test_reset_zeroes_the_counters_and_refills_the_buckets(start_proxy):
    proxy = start_proxy(*EXACT_FLAGS)
    table = create_table(proxy)
    client = proxy.client()
    with pytest.raises(ClientError):
        for n in range(6):
            client.put_item(TableName=table, Item={"pk": {"S": "ITEM"}, "id": {"S": str(n)}})
    urllib.request.urlopen(urllib.request.Request(proxy.url + "/_limits/reset", method="POST"), timeout=5)
    assert proxy.stats()["tables"] == {}
    for n in range(5):
        client.put_item(TableName=table, Item={"pk": {"S": "ITEM"}, "id": {"S": str(n)}})



def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, table: str, seconds: float, threads: int = 8) -> tuple[int, int]:
    """PutItem calls over raw keep-alive connections (a lighter client than boto3, so
    the client is not what is measured) spread over 16 keys: (answered 200, others)."""
    host = url.removeprefix("http://")
    headers = {"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIAFAKEPARTITION/20250101/{REGION}/dynamodb/"
                                "aws4_request, SignedHeaders=host, Signature=0"}
    counts = [[0, 0] for _ in range(threads)]
    deadline = time.monotonic() + seconds

    def run(t: int) -> None:
        connection = http.client.HTTPConnection(host, timeout=10)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            body = json.dumps({"TableName": table, "Item": {
                "pk": {"S": f"ITEM#{n % 16}"}, "id": {"S": f"{t}-{n}"}, "name": {"S": "x" * 100}}})
            connection.request("POST", "/", body, headers)
            response = connection.getresponse()
            response.read()
            counts[t][response.status != 200] += 1
        connection.close()

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def test_the_proxy_is_not_the_bottleneck(start_proxy, moto):
    """Requests/s into moto directly and through the proxy with limits set out of
    reach (best of two rounds each), the proxy's CPU time per request, and how fast it
    answers throttled requests on its own. Run with -s to see the figures."""
    moto_url, moto_pid = moto
    seconds = 3.0
    open_proxy = start_proxy("--write-units-per-key", "1e9", "--read-units-per-key", "1e9")
    table = create_table(open_proxy)
    direct, through = [], []
    proxy_cpu = moto_cpu = 0.0
    for _ in range(2):
        ok, failed = load(moto_url, table, seconds)
        assert failed == 0
        direct.append(ok / seconds)
        before = cpu_seconds(open_proxy.pid), cpu_seconds(moto_pid)
        ok, failed = load(open_proxy.url, table, seconds)
        assert failed == 0
        proxy_cpu += cpu_seconds(open_proxy.pid) - before[0]
        moto_cpu += cpu_seconds(moto_pid) - before[1]
        through.append(ok / seconds)
    forwarded = sum(through) * seconds
    closed_proxy = start_proxy("--write-units-per-key", "1", "--burst-seconds", "1")
    before = cpu_seconds(closed_proxy.pid)
    admitted, throttled = load(closed_proxy.url, table, seconds)
    throttled_cpu = cpu_seconds(closed_proxy.pid) - before
    print(f"\nPutItem, 8 keep-alive clients, {seconds:g} s rounds: moto directly {max(direct):.0f}/s, "
          f"through the proxy {max(through):.0f}/s; the proxy used {1000 * proxy_cpu / forwarded:.2f} ms CPU "
          f"per forwarded request (moto {1000 * moto_cpu / forwarded:.2f} ms); throttled answers alone: "
          f"{throttled / seconds:.0f}/s at {1000 * throttled_cpu / throttled:.2f} ms CPU each")
    assert max(through) >= 0.6 * max(direct)
    assert throttled / seconds >= 2 * max(direct)
    assert admitted <= 16 * (1 + seconds)  # 16 keys' burst of one unit and their refill
