"""A single-threaded moto S3 server on 127.0.0.1 for the remote-store tests.

Run as ``python -m tests.s3_server BUCKET...``: prints the port on the first line of stdout,
then serves until killed. Single-threaded on purpose: moto's threaded server checks a write's
conditions and performs it without a lock, so two concurrent conditional writes could both
succeed; one request at a time gives the atomic compare-and-swap a real S3 endpoint gives.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.s3.models import s3_backends
    from werkzeug.serving import make_server

    for bucket in sys.argv[1:]:  # the buckets to serve, created empty
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].create_bucket(bucket, "us-east-1")
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", 0, app, threaded=False, processes=1, request_handler=MotoRequestHandler
    )
    print(server.server_address[1], flush=True)
    # One log line per request otherwise, which nobody reads.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
    server.serve_forever()


if __name__ == "__main__":
    main()
