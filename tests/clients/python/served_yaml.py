"""The served /openapi.yaml is openapi.yaml (servers aside) under a YAML 1.1 parser.

PyYAML implements YAML 1.1, whose implicit types (timestamps, yes/no/on/off,
sexagesimal numbers) many code generators still apply; the service's own tests
check YAML 1.2. Usage: served_yaml.py BASE_URL OPENAPI_YAML
"""

import json
import sys
import urllib.request

import yaml


def main() -> int:
    base_url, path = sys.argv[1], sys.argv[2]
    with urllib.request.urlopen(f"{base_url}/openapi.yaml", timeout=10) as response:
        served = yaml.safe_load(response.read())
    with open(path, encoding="utf-8") as file:
        committed = yaml.safe_load(file)
    # Both must be JSON documents: a value YAML 1.1 reads as a timestamp is not one.
    try:
        served_json, committed_json = (json.dumps(doc, sort_keys=True) for doc in (served, committed))
    except TypeError as error:
        print(f"a document read with YAML 1.1 is not JSON any more: {error}", file=sys.stderr)
        return 1
    served.pop("servers", None)
    committed.pop("servers", None)
    if served != committed:
        differing = sorted(k for k in set(served) | set(committed) if served.get(k) != committed.get(k))
        print(f"served /openapi.yaml differs from {path} under YAML 1.1 in: {differing}", file=sys.stderr)
        return 1
    print(f"served /openapi.yaml equals {path} under YAML 1.1 (PyYAML {yaml.__version__}), "
          f"{len(served_json)} and {len(committed_json)} bytes as JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main())
