#!/bin/sh
# tools/fh-embed is deterministic: run again on the page's files, from
# another directory and with the source directory spelled another way, it
# writes byte for byte the sinks/log/page_data.c the build compiled in.
set -eu
b=${top_builddir:?} s=${top_srcdir:?}
# Not the caller's make flags: its jobserver and directory messages.
files=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    make -s --no-print-directory -C "$b" print-page-files)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fh-embed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -n "$files" ] || { echo "FAIL: no page files"; exit 1; }
"$b/tools/fh-embed" -o "$tmp/a.c" -s page_files -i sinks/log/page.h \
    -d "$s" $files
mkdir "$tmp/elsewhere"
ln -s "$s" "$tmp/src"
(cd "$tmp/elsewhere" && "$b/tools/fh-embed" -o ../b.c -s page_files \
    -i sinks/log/page.h -d ../src/. $files)
cmp "$tmp/a.c" "$b/sinks/log/page_data.c" ||
    { echo "FAIL: page_data.c differs from a fresh run"; exit 1; }
cmp "$tmp/a.c" "$tmp/b.c" ||
    { echo "FAIL: output depends on the directory"; exit 1; }
# A missing file fails and leaves nothing behind.
if "$b/tools/fh-embed" -o "$tmp/c.c" -s page_files -i x.h -d "$s" \
    $files sinks/log/page/no-such-file 2>/dev/null; then
	echo "FAIL: a missing file was accepted"; exit 1
fi
[ ! -e "$tmp/c.c" ] && [ ! -e "$tmp/c.c.tmp" ] ||
    { echo "FAIL: a failed run left output"; exit 1; }
echo "PASS: fh-embed is deterministic ($(echo $files | wc -w) files)"
