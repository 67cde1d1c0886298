#!/usr/bin/env bash
# Vendors the map page's npm packages into static/vendor/ (committed: the site needs no npm and no CDN at run
# time). Each package is pinned by version and by its registry integrity (sha512), checked before anything is
# written; run it again to update after changing a pin. Needs npm and the npm registry.
#
#   leaflet-side-by-side 2.2.0 (MIT): the swipe control. Its source is CommonJS for browserify; we keep it
#   as it is but for its three require() lines (Leaflet is the page's global L; its CSS is linked instead).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=leaflet-side-by-side VERSION=2.2.0
INTEGRITY="sha512-JLN9dUoQgSJcZWowOOG19s4zpHasZfGsBeJ/ceObJ1f7vQ0OGGvx564yH7+JOF/zk1zNDi1RYjeJZUwVCC7YNA=="
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$NAME@$VERSION" >/dev/null)
tarball="$tmp/$NAME-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$actual" = "$INTEGRITY" ] || { echo "integrity mismatch for $NAME@$VERSION: $actual" >&2; exit 1; }
tar xzf "$tarball" -C "$tmp"
out=static/vendor/$NAME
mkdir -p "$out"
{
  echo "/* $NAME $VERSION (MIT, $(tr -d '\r' < "$tmp/package/LICENSE" | sed -n 's/.*Copyright/Copyright/p' | head -1)), vendored by scripts/vendor_js.sh */"
  echo "(function () {"
  tr -d '\r' < "$tmp/package/index.js" | sed -e "s/^var L = require('leaflet')$/var L = window.L/" \
      -e "/^require('.\/layout.css')$/d" -e "/^require('.\/range.css')$/d" -e "s/^module.exports = .*$//"
  echo "})();"
} > "$out/$NAME.js"
cp "$tmp/package/layout.css" "$tmp/package/range.css" "$tmp/package/range-icon.png" "$tmp/package/LICENSE" "$out/"
echo "vendored $NAME@$VERSION into $out"
