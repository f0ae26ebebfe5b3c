#!/usr/bin/env bash
# Three instances + nginx on one port (deploy/nginx.conf), on this machine's PostgreSQL and
# Redis: a message sent on one instance's socket arrives on another's, through nginx.
#   deploy/scale_demo.sh [--instances N] [--server uvicorn|daphne|granian]
# Needs nginx (apt-get install -y nginx) and the project's virtualenv (make install).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python deploy/scale_demo.py "$@"
