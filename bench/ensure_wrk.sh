#!/bin/sh
# wrk, the REST load generator of `python -m bench api`: installed from Debian's packages when missing.
command -v wrk >/dev/null 2>&1 && exit 0
apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
command -v wrk >/dev/null 2>&1
