#!/usr/bin/env bash
# Install the benchmark driver's anchor tools and chart renderer (Debian):
# everything scripts/deps.sh installs (the build, the tests and the anchors
# time, hashdeep, rhash, b3sum, rdiff, openssl) plus gnuplot for the charts.
# Installs only what is missing; needs root (or sudo) when something is.
# The driver reports any tool still missing as "absent" and goes on.
set -euo pipefail
exec bash "$(dirname "$0")/../scripts/deps.sh" gnuplot-nox coreutils findutils
