"""DynamoDB and Secrets Manager on this machine, reached over TLS as on AWS.

moto's application (tests/tools/moto_keepalive.py: keep-alive, requests applied one at
a time as DynamoDB applies conditional writes) behind a TLS endpoint: stunnel
(Debian's `stunnel4`) terminates TLS with a certificate from a test CA made per run
and forwards plain HTTP to moto. The service's AWS SDK trusts the CA through
SSL_CERT_FILE, boto3 through AWS_CA_BUNDLE. DynamoDB is reached as 127.0.0.1 and
Secrets Manager as localhost, so, as on AWS, they are two hosts and two TLS
connections. moto_server's own TLS mode answered each call ~11 ms slower and, like its
plain mode, closes every connection after one response.

Used by the cold-start bench (benches/cold_start.py) and the local stage
(tests/tools/stage.py). Only 127.0.0.1 is contacted (localhost resolves there through
/etc/hosts); both processes are started here and stopped here by their own ids.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from service import free_port, stop  # noqa: E402

PY = HERE.parents[1] / "target" / "py"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA made here and a server certificate it
    signs for 127.0.0.1 and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "items-api test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([
                  x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _stop_with_parent() -> None:
    """In a child before it runs: SIGTERM when the process that started it dies, even
    by SIGKILL (Linux PR_SET_PDEATHSIG), so the emulator never outlives its user. Tied
    to the starting thread: Moto is started from the main thread."""
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Moto:
    """moto on 127.0.0.1 behind a local TLS endpoint, in `directory` (certificates and
    stunnel's configuration go there); `close()` stops both processes."""

    def __init__(self, directory: Path) -> None:
        self.ca, cert, key = make_certificates(directory)
        moto_port, self.port = free_port(), free_port()
        self.endpoint = f"https://127.0.0.1:{self.port}"
        self.secrets_endpoint = f"https://localhost:{self.port}"
        self.processes = [subprocess.Popen(
            [str(PY / "bin" / "python"), str(HERE / "moto_keepalive.py"), str(moto_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_stop_with_parent)]
        stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
        if stunnel is None:
            stop(self.processes[0])
            raise SystemExit("stunnel4 is not installed (Debian: apt-get install stunnel4; make setup does)")
        config = directory / "stunnel.conf"
        config.write_text("\n".join([
            "foreground = yes", "pid =", "debug = 3",
            "socket = l:TCP_NODELAY=1", "socket = r:TCP_NODELAY=1",
            "[moto]", f"accept = 127.0.0.1:{self.port}", f"connect = 127.0.0.1:{moto_port}",
            f"cert = {cert}", f"key = {key}", ""]))
        self.processes.append(subprocess.Popen([stunnel, str(config)], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, preexec_fn=_stop_with_parent))
        deadline = time.monotonic() + 60
        while True:
            try:
                self.touch()
                break
            except OSError:
                if any(p.poll() is not None for p in self.processes) or time.monotonic() > deadline:
                    self.close()
                    raise SystemExit("moto or stunnel did not start")
                time.sleep(0.1)

    def touch(self) -> None:
        """One request through the TLS endpoint (the bench wakes an idle emulator so no
        sample pays for it)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=2)
        connection.request("GET", "/moto-api/")
        connection.getresponse().read()
        connection.close()

    def client_env(self) -> dict[str, str]:
        """What a process needs to reach this emulator as if it were AWS."""
        return {
            "AWS_ACCESS_KEY_ID": "AKIAFAKEEMULATOR", "AWS_SECRET_ACCESS_KEY": "fake-emulator-secret",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.secrets_endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SSL_CERT_FILE": str(self.ca), "AWS_CA_BUNDLE": str(self.ca),
        }

    def client(self, service: str):
        """A boto3 client of `service` ("dynamodb", "secretsmanager") on this emulator."""
        import boto3
        env = self.client_env()
        return boto3.client(service, region_name=REGION, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], verify=str(self.ca),
                            endpoint_url=self.endpoint if service == "dynamodb" else self.secrets_endpoint)

    def close(self) -> None:
        for process in self.processes:
            stop(process)
