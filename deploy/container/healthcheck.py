#!/usr/bin/python3
"""The container image's HEALTHCHECK (deploy/container/Containerfile): GET /healthz from the
node in this container, on the address sanode serves HTTP on (SA_HTTP_ADDR), over TLS unless
the node runs --insecure (SA_INSECURE=true). Exits 0 when the node answers 200, else 1 with the
reason. The node answers 503 when its Raft core has stopped (node/sanode/src/node/health.rs).

The image holds python3 for the rules, so the probe needs nothing else (no curl).
"""

import os
import ssl
import sys
import urllib.error
import urllib.request

addr = os.environ.get("SA_HTTP_ADDR", "127.0.0.1:7780")
host, port = addr.rsplit(":", 1)
# A node bound to every address is asked on loopback.
host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
plaintext = os.environ.get("SA_INSECURE", "false") == "true"
context = None
if not plaintext:
    # The probe asks the node of its own container and sends nothing secret, and a node's
    # certificate need not name 127.0.0.1: it does not check the certificate. A TLS handshake
    # without a client certificate may call /healthz (docs/security.md).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
url = f"{'http' if plaintext else 'https'}://{host}:{port}/healthz"
try:
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        response.read()
except urllib.error.HTTPError as e:
    print(f"{url}: {e.code} {e.read().decode(errors='replace').strip()}", file=sys.stderr)
    sys.exit(1)
except (OSError, ssl.SSLError) as e:
    print(f"{url}: {e}", file=sys.stderr)
    sys.exit(1)
