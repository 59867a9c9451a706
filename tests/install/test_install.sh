#!/bin/sh
# Installs the build into a temporary prefix, then builds and runs a consumer against it twice:
# with pkg-config and with CMake's find_package. Also checks that the shared library exports the
# public dps_ symbols and none of the internal dps__ ones.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(find "$tmp/prefix" -name 'libdpstatus.so' -exec dirname {} \; | head -1)
test -f "$tmp/prefix/include/dpstatus.h"
test -f "$libdir/libdpstatus.a"
test -f "$libdir/pkgconfig/dpstatus.pc"
test -f "$libdir/cmake/dpstatus/dpstatusConfig.cmake"

exported=$(nm -D --defined-only "$libdir/libdpstatus.so" | awk '{print $3}')
echo "$exported" | grep -qx dps_update_validate || { echo "dps_update_validate not exported"; exit 1; }
if echo "$exported" | grep -q '^dps__'; then echo "internal symbols exported:"; echo "$exported" | grep '^dps__'; exit 1; fi

PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c11 -Wall -Werror -o "$tmp/consumer-pc" \
  "$src/tests/install/consumer.c" $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs dpstatus)
LD_LIBRARY_PATH="$libdir" "$tmp/consumer-pc"

cmake -S "$src/tests/install" -B "$tmp/cb" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cb" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cb/consumer"
echo "install: header, static and shared library, pkg-config and CMake package all work"
