"""The Lambda Runtime API, emulated for functions started on this machine.

One emulator for everything that runs the service as Lambda runs it: the cold-start
bench (benches/cold_start.py: a fresh process per sample, timed) and the local stage
(tests/tools/stage.py: one long-lived execution environment behind an emulated API
Gateway). The function finds it through AWS_LAMBDA_RUNTIME_API, as on AWS:

- `GET  /2018-06-01/runtime/invocation/next`: the next event, with the request id,
  deadline, function ARN and trace id headers
  (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html);
- `POST /2018-06-01/runtime/invocation/{id}/response` and `.../error`: its answer;
- `POST /2018-06-01/runtime/init/error`: a failed Init.

`RuntimeApi.run` is the bench's: start a process, hand it a list of events, time it.
`ExecutionEnvironment` is the stage's: one process at a time, as a single Lambda
execution environment (concurrent invocations queue); it is started on the first
invocation, and started anew after the process exits, fails its Init or overruns the
function's timeout, as Lambda does.

Only 127.0.0.1 is used; every process is started here and stopped here by its own id.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import stop  # noqa: E402

PREFIX = "/2018-06-01/runtime"
DEFAULT_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:items-api-bench"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"


@dataclass
class Invocation:
    """One event handed to the function, and what became of it."""

    event: bytes
    deadline_s: float = 30.0
    # X-Ray's trace header for this invocation (Lambda-Runtime-Trace-Id); a fixed,
    # unsampled one when the caller has none.
    trace_id: str | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # "response" (payload: the function's bytes), "error" (payload: its error document)
    outcome: str | None = None
    payload: bytes = b""
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self, outcome: str, payload: bytes) -> None:
        if not self.done.is_set():
            self.outcome, self.payload = outcome, payload
            self.done.set()


class RuntimeApi:
    """The parts of the Lambda Runtime API a function uses: next, response, error,
    init error; for one function process at a time."""

    PREFIX = PREFIX

    def __init__(self, function_arn: str = DEFAULT_ARN) -> None:
        # Each started process is a generation: a connection accepted in an earlier one
        # (a stopped process's keep-alive connection whose last request is read late)
        # gets no event of the current one. (A server per process avoids that too, but
        # its start-up added ~10 ms to every "ready" of the bench.)
        self.function_arn = function_arn
        self.generation = 0
        self.events: queue.Queue[Invocation] = queue.Queue()
        self.finished = threading.Event()
        self.lock = threading.Lock()
        self.marks: list[tuple[str, float, object]] = []
        self.pending: dict[str, Invocation] = {}
        self.init_error: bytes | None = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once

            def setup(self) -> None:
                self.generation = api.generation
                super().setup()

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # a process already stopped
                    self.close_connection = True

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._send(404)
                if self.generation != api.generation:
                    self.close_connection = True
                    return self._send(410)
                events, finished = api.events, api.finished
                api.mark("next")
                while True:
                    try:
                        invocation = events.get(timeout=0.05)
                        break
                    except queue.Empty:
                        if finished.is_set():
                            self.close_connection = True
                            return self._send(410)
                with api.lock:
                    api.pending[invocation.request_id] = invocation
                api.mark("event", invocation.request_id)
                deadline = int((time.time() + invocation.deadline_s) * 1000)
                self._send(200, invocation.event, {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id or TRACE_ID,
                })

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.generation != api.generation:
                    self.close_connection = True
                    return self._send(410)
                if self.path == f"{PREFIX}/init/error":
                    api.init_error = body
                    api.mark("init-error", body.decode(errors="replace"))
                    return self._send(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
                    return self._send(404)
                with api.lock:
                    invocation = api.pending.pop(parts[1], None)
                if invocation is None:
                    return self._send(400, b'{"errorType":"InvalidRequestID"}',
                                      {"Content-Type": "application/json"})
                if parts[2] == "response":
                    try:
                        api.mark("response", json.loads(body))
                    except ValueError:
                        api.mark("response", None)
                else:
                    api.mark("error", body.decode(errors="replace"))
                invocation.finish(parts[2], body)
                self._send(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def mark(self, kind: str, payload: object = None) -> None:
        with self.lock:
            self.marks.append((kind, time.perf_counter(), payload))

    def new_generation(self) -> None:
        """Forget the previous process: its waiting `next` gives up, its late answers
        are refused, its undelivered events are dropped."""
        self.finished.set()
        with self.lock:
            self.generation += 1
            self.marks = []
            self.pending = {}
            self.init_error = None
            self.events, self.finished = queue.Queue(), threading.Event()

    def submit(self, invocation: Invocation) -> Invocation:
        self.events.put(invocation)
        return invocation

    def close(self) -> None:
        self.finished.set()
        self.server.shutdown()
        self.server.server_close()

    def run(self, command: list[str], env: dict[str, str], events: list[bytes], cwd: Path,
            timeout: float = 30.0) -> dict:
        """Starts `command` as a function, hands it `events` in turn, and times it."""
        self.new_generation()
        for event in events:
            self.submit(Invocation(event))
        env = {**env, "AWS_LAMBDA_RUNTIME_API": self.address}
        with tempfile.TemporaryFile() as output:
            started = time.perf_counter()
            process = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    with self.lock:
                        done = sum(1 for kind, _, _ in self.marks if kind in ("response", "error"))
                    if done == len(events) or process.poll() is not None:
                        break
                    time.sleep(0.002)
            finally:
                self.finished.set()
                stop(process, timeout=5)
            output.seek(0)
            text = output.read().decode(errors="replace")
        with self.lock:
            marks = list(self.marks)
        nexts = [t for kind, t, _ in marks if kind == "next"]
        handed = [t for kind, t, _ in marks if kind == "event"]
        answers = [(t, p) for kind, t, p in marks if kind in ("response", "error")]
        errors = [p for kind, _, p in marks if kind in ("error", "init-error")]
        if errors or len(answers) != len(events) or not nexts:
            raise SystemExit(f"cold start of {command[0]} failed: {errors or 'no answer'} "
                             f"(marks: {[(k, round(t - started, 4)) for k, t, _ in marks]})\n{text[-3000:]}")
        statuses = [(p or {}).get("statusCode") for _, p in answers]
        return {
            "ready": nexts[0] - started,
            "requests": [answer - handed[i] for i, (answer, _) in enumerate(answers)],
            "statuses": statuses,
        }


@dataclass
class Outcome:
    """How an invocation ended, as Lambda reports it to its caller.

    kind: "response" (payload: the function's answer), "error" (the function reported
    an error: payload is its error document), "init-error" (Init failed),
    "exit" (the process ended: Runtime.ExitError), "timeout" (the function's timeout
    passed: "Task timed out"), "start-error" (the file could not be executed:
    Runtime.InvalidEntrypoint).
    """

    kind: str
    payload: bytes = b""
    detail: str = ""


class ExecutionEnvironment:
    """One Lambda execution environment: the function's process under the Runtime API,
    started on the first invocation and again after it ends, fails or times out.

    Invocations run one at a time; callers queue on a lock, as requests queue for a
    single environment (Lambda would start more environments instead; the stage
    emulates one, and says so).
    """

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, *,
                 timeout_s: float, init_timeout_s: float = 10.0, output: IO[bytes] | None = None,
                 function_arn: str = DEFAULT_ARN) -> None:
        self.command = command
        self.env = env
        self.cwd = cwd
        self.timeout_s = timeout_s
        self.init_timeout_s = init_timeout_s
        self.output = output
        self.api = RuntimeApi(function_arn)
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.closed = False

    def _start(self) -> Outcome | None:
        """Starts a fresh process; None once it asks for its first event."""
        if self.closed:
            return Outcome("closed", detail="the execution environment is shut down")
        self.api.new_generation()
        env = {**self.env, "AWS_LAMBDA_RUNTIME_API": self.api.address}
        try:
            process = self.process = subprocess.Popen(self.command, env=env, cwd=self.cwd,
                                                      stdout=self.output, stderr=subprocess.STDOUT,
                                                      start_new_session=True)
        except OSError as error:  # not executable, wrong format, missing
            self.process = None
            return Outcome("start-error", detail=f"Runtime.InvalidEntrypoint: {error}")
        deadline = time.monotonic() + self.init_timeout_s
        while time.monotonic() < deadline:
            with self.api.lock:
                kinds = [kind for kind, _, _ in self.api.marks]
            if "init-error" in kinds:
                detail = (self.api.init_error or b"").decode(errors="replace")
                self._stop()
                return Outcome("init-error", detail=f"Runtime.InitError: {detail}")
            if "next" in kinds:
                return None
            if process.poll() is not None:
                self.process = None
                if self.closed:
                    return Outcome("closed", detail="the execution environment is shut down")
                return Outcome("exit", detail=f"Runtime.ExitError: the process exited ({process.returncode}) "
                                              "during Init")
            time.sleep(0.002)
        self._stop()
        return Outcome("timeout", detail=f"Init did not finish within {self.init_timeout_s:g} s")

    def _stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop(process, timeout=2)

    def invoke(self, event: bytes, wait_limit_s: float | None = None, trace_id: str | None = None) -> Outcome:
        """Hands `event` to the function and waits for its answer, at most the function's
        timeout; or `wait_limit_s`, the caller's own limit, when that comes first: it
        counts from the call, so time queued behind other invocations and a cold start's
        Init count too (as API Gateway's integration timeout does), and the caller gives
        up while the function would go on."""
        caller_deadline = None if wait_limit_s is None else time.monotonic() + wait_limit_s
        queued = self.lock.acquire(timeout=-1 if caller_deadline is None
                                   else max(0.0, caller_deadline - time.monotonic()))
        if not queued:
            return Outcome("caller-timeout", detail=f"no answer within {wait_limit_s:g} s (queued)")
        try:
            if self.closed:
                return Outcome("closed", detail="the execution environment is shut down")
            process = self.process
            if process is None or process.poll() is not None:
                failed = self._start()
                if failed is not None:
                    return failed
                process = self.process
            invocation = self.api.submit(Invocation(event, deadline_s=self.timeout_s, trace_id=trace_id))
            function_deadline = time.monotonic() + self.timeout_s
            while not invocation.done.wait(0.005):
                if self.closed:
                    return Outcome("closed", detail="the execution environment is shut down")
                if process.poll() is not None:
                    self.process = None
                    return Outcome("exit", detail=f"Runtime.ExitError: the process exited ({process.returncode})")
                now = time.monotonic()
                if caller_deadline is not None and now >= caller_deadline and caller_deadline < function_deadline:
                    # The caller stops waiting; Lambda would let the function run on to
                    # its own timeout, which the next invocation would wait for. The
                    # environment is replaced now so the next caller is not charged.
                    self._stop()
                    return Outcome("caller-timeout", detail=f"no answer within {wait_limit_s:g} s")
                if now >= function_deadline:
                    self._stop()
                    return Outcome("timeout", detail=f"Task timed out after {self.timeout_s:.2f} seconds")
            return Outcome(invocation.outcome or "error", invocation.payload)
        finally:
            self.lock.release()

    def close(self) -> None:
        """Stops the function; invocations in flight or queued end as "closed" and no
        new process starts. Not under the lock: an invocation in flight holds it."""
        self.closed = True
        self._stop()
        self.api.close()
