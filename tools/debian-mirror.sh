#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Prints the machine's configured Debian mirror, for debootstrap: the first
# deb822 "URIs:" or one-line "deb" entry for bookworm's main archive (not
# -security), else deb.debian.org.  Used by tests/vm/build-image.sh and
# tools/build-builder-image.sh.
set -euo pipefail

for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
        [ -f "$f" ] || continue
        u=$(awk '/^URIs:/ { uri = $2 } /^Suites:/ { if ($0 ~ / bookworm( |$)/ && uri !~ /security/) { print uri; exit } }' "$f")
        [ -n "$u" ] || u=$(awk '$1 == "deb" && $3 == "bookworm" && $2 !~ /security/ { print $2; exit }' "$f")
        if [ -n "$u" ]; then
                echo "$u"
                exit 0
        fi
done
echo http://deb.debian.org/debian
