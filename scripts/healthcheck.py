"""The container's HEALTHCHECK (Dockerfile): GET /health on this container, exit 0 if it is 200.

Sent with a Host from ALLOWED_HOSTS, since Django answers 400 to any other, 127.0.0.1 included.
"""

import os
import sys
import urllib.error
import urllib.request


def allowed_host() -> str:
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip()
        if host and host != "*":
            return host.lstrip(".")  # ".bank.example" allows bank.example itself too
    return "localhost"


def main() -> int:
    port = os.environ.get("PORT", "3006")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/health", headers={"Host": allowed_host()}
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - our own URL
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
