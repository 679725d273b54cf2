"""The operations of openapi.yaml as the Prism scripts use them (workload.py and
mock.py read them here, so a new operation reaches both without a list to edit)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Operation:
    """One operation of openapi.yaml, as the Prism scripts (this one and mock.py) use it."""

    id: str
    method: str
    path: str
    needs_token: bool
    # Its parameters and its path's, each with `$ref`s resolved (its schema's too).
    parameters: tuple
    # The first media type of its request body and that body's example (None: no body).
    body_type: str | None
    body_example: object
    # Its lowest documented 2xx, and the name of that answer's JSON schema (if any).
    success: int
    success_schema: str | None

    def __str__(self) -> str:
        return f"{self.id} ({self.method} {self.path})"

    def needs_input(self) -> bool:
        """Whether a request must carry something of the caller's: a path parameter, a
        required parameter, a body or the token."""
        return (self.needs_token or self.body_type is not None
                or any(p["in"] == "path" or p.get("required") for p in self.parameters))

    def matches(self, method: str, target: str) -> int | None:
        """How many template segments `target` fills when it is a request of this
        operation (fewer is a closer match), or None."""
        template = self.path.strip("/").split("/")
        segments = target.split("?", 1)[0].strip("/").split("/")
        if method != self.method or len(template) != len(segments):
            return None
        filled = 0
        for expected, actual in zip(template, segments):
            if expected.startswith("{"):
                filled += 1
            elif expected != actual:
                return None
        return filled


def operations(spec: str | Path) -> list[Operation]:
    """Every operation of the OpenAPI document at `spec`, in its order."""
    document = yaml.safe_load(Path(spec).read_text())

    def resolve(value):
        while isinstance(value, dict) and "$ref" in value:
            target = document
            for key in value["$ref"].removeprefix("#/").split("/"):
                target = target[key.replace("~1", "/").replace("~0", "~")]
            value = target
        return value

    schemes = document.get("components", {}).get("securitySchemes", {})
    bearer = {name for name, scheme in schemes.items()
              if resolve(scheme).get("type") == "http" and str(resolve(scheme).get("scheme")).lower() == "bearer"}
    found = []
    for path, item in document["paths"].items():
        item = resolve(item)
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            label = f"{method.upper()} {path}"
            requirements = operation.get("security", document.get("security", []))
            needs_token = bool(requirements) and all(
                any(name in bearer for name in requirement) for requirement in requirements)
            parameters = []
            for parameter in [resolve(p) for p in operation.get("parameters", []) + item.get("parameters", [])]:
                if not any(p["name"] == parameter["name"] and p["in"] == parameter["in"] for p in parameters):
                    parameters.append({**parameter, "schema": resolve(parameter.get("schema", {}))})
            body_type, body_example = None, None
            if "requestBody" in operation:
                body_type, media = next(iter(resolve(operation["requestBody"])["content"].items()))
                body_example = media.get("example", resolve(media.get("schema", {})).get("example"))
            statuses = sorted(int(status) for status in operation["responses"] if str(status).isdigit())
            success = next((status for status in statuses if 200 <= status < 300), None)
            if success is None:
                raise ValueError(f"{label} documents no 2xx answer")
            answer = resolve(operation["responses"].get(str(success), operation["responses"].get(success)))
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            found.append(Operation(
                id=operation["operationId"], method=method.upper(), path=path, needs_token=needs_token,
                parameters=tuple(parameters), body_type=body_type, body_example=body_example, success=success,
                success_schema=schema["$ref"].rsplit("/", 1)[-1] if "$ref" in schema else None))
    return found
