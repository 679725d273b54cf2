"""An OpenID Connect issuer for tests: discovery, JWKS and tokens minted on request.

Stands in for Amazon Cognito or any OpenID Connect issuer wherever the service verifies
JWTs itself (`AUTH_MODE=jwt`) or the local stage plays API Gateway's Cognito
authorizer. Its keys are generated at every start and never leave the process (no
private key is committed anywhere); only 127.0.0.1 is served.

    python tests/tools/oidc_issuer.py [--port N]

prints one JSON line when it listens, `{"issuer": "http://127.0.0.1:N"}`, and serves:

- `GET /.well-known/openid-configuration`: `issuer` and `jwks_uri`, as OpenID Connect
  Discovery 1.0 section 4 describes;
- `GET /jwks.json`: the published keys (RS256 `rsa-1`, ES256 `ec-1`, and `rsa-2` after
  a rotation), public parts only;
- `POST /mint` with a JSON body: `claims` (the token's claims as given; `iat` and `exp`
  are added when absent, one hour; a claim given as null is left out), `alg` (`RS256` (default), `ES256`, `none`, or
  `HS256-public-key`: HS256 keyed with the RSA public key's PEM, the classic
  algorithm-confusion attack), `kid` (default: the algorithm's key; `rsa-unpublished`
  signs with a key that is never published), `header` (extra header fields). Answers
  `{"token": "..."}`;
- `POST /rotate`: publishes a new RS256 key `rsa-2` and answers its kid (what an issuer
  does before signing with a new key);
- `GET /stats`: how often discovery and the JWKS were read (`discovery`, `jwks`), so a
  test can see the service's key cache at work.

`Issuer` does the same in-process for Python tests (`with Issuer() as issuer:
issuer.mint({...})`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(number: int, length: int | None = None) -> str:
    length = length or (number.bit_length() + 7) // 8
    return _b64(number.to_bytes(length, "big"))


class Keys:
    """The issuer's signing keys, by kid; `published` are the kids in the JWKS."""

    def __init__(self) -> None:
        self.private = {
            "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1()),
            "rsa-unpublished": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        }
        self.published = ["rsa-1", "ec-1"]
        self.lock = threading.Lock()

    def rotate(self) -> str:
        with self.lock:
            if "rsa-2" not in self.private:
                self.private["rsa-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                self.published.append("rsa-2")
        return "rsa-2"

    def jwks(self) -> dict:
        keys = []
        with self.lock:
            for kid in self.published:
                public = self.private[kid].public_key()
                if isinstance(public, rsa.RSAPublicKey):
                    numbers = public.public_numbers()
                    keys.append({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                                 "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)})
                else:
                    numbers = public.public_numbers()
                    keys.append({"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                                 "x": _int_b64(numbers.x, 32), "y": _int_b64(numbers.y, 32)})
        return {"keys": keys}

    def mint(self, claims: dict, alg: str = "RS256", kid: str | None = None, header: dict | None = None) -> str:
        now = int(time.time())
        # A claim given as null is left out (a token without `exp`, say).
        claims = {key: value for key, value in {"iat": now, "exp": now + 3600, **claims}.items()
                  if value is not None}
        extra = dict(header or {})
        if alg == "none":
            head = {"alg": "none", "typ": "JWT", **extra}
            return f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(claims).encode())}."
        if alg == "HS256-public-key":
            pem = self.private[kid or "rsa-1"].public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            head = {"alg": "HS256", "typ": "JWT", "kid": kid or "rsa-1", **extra}
            signing_input = f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(claims).encode())}"
            signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{_b64(signature)}"
        kid = kid or ("ec-1" if alg == "ES256" else "rsa-1")
        return jwt.encode(claims, self.private[kid], algorithm=alg, headers={"kid": kid, **extra})


class Issuer:
    """The issuer on a free port of 127.0.0.1, in a thread of this process."""

    def __init__(self, port: int = 0) -> None:
        self.keys = Keys()
        self.stats = {"discovery": 0, "jwks": 0}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet: tests read their own output
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    issuer.stats["discovery"] += 1
                    self._answer(200, {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks.json",
                                       "id_token_signing_alg_values_supported": ["RS256", "ES256"]})
                elif self.path == "/jwks.json":
                    issuer.stats["jwks"] += 1
                    self._answer(200, issuer.keys.jwks())
                elif self.path == "/stats":
                    self._answer(200, issuer.stats)
                else:
                    self._answer(404, {"message": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/mint":
                    token = issuer.keys.mint(request.get("claims", {}), request.get("alg", "RS256"),
                                             request.get("kid"), request.get("header"))
                    self._answer(200, {"token": token})
                elif self.path == "/rotate":
                    self._answer(200, {"kid": issuer.keys.rotate()})
                else:
                    self._answer(404, {"message": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def mint(self, claims: dict, **options) -> str:
        return self.keys.mint(claims, **options)

    def __enter__(self) -> "Issuer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args()
    issuer = Issuer(args.port)
    print(json.dumps({"issuer": issuer.url}), flush=True)
    try:
        issuer.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        issuer.server.server_close()


if __name__ == "__main__":
    sys.exit(main())
