#!/bin/sh
# A man page from a program's --help, so the two never disagree:
#   deploy/mkman.sh BINARY SECTION VERSION "what it is" [PAGE.SECT...] > NAME.SECTION
# (pages for SEE ALSO, e.g. pingfold.1; the page itself is left out)
# NAME and SYNOPSIS come from the help's "Usage:" line, DESCRIPTION is the
# whole help text, kept as it is laid out (no-fill), with roff's special
# characters escaped.
set -eu

bin=$1 sect=$2 version=$3 what=$4
shift 4
name=$(basename "$bin")
help=$("$bin" --help)
usage=$(printf '%s\n' "$help" | sed -n 's/^Usage: *[^ ]* *//p' | head -n 1)

# roff: backslashes first, then a leading . or ' would be a request,
# and - is a hyphen unless written \-
esc() {
	sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

printf '.TH %s %s "" "pingfold %s" "pingfold"\n' \
	"$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]' | esc)" "$sect" "$version"
printf '.SH NAME\n%s \\- %s\n' "$(printf '%s' "$name" | esc)" "$(printf '%s' "$what" | esc)"
printf '.SH SYNOPSIS\n.B %s\n%s\n' "$(printf '%s' "$name" | esc)" "$(printf '%s' "$usage" | esc)"
printf '.SH DESCRIPTION\n.nf\n'
printf '%s\n' "$help" | sed '1{/^Usage:/d}' | esc
printf '.fi\n'
printf '.SH FILES\n/etc/pingfold/, /usr/share/pingfold/examples/, /usr/share/doc/pingfold/operations.md\n'
for s in "$@"; do
	[ "${s%.*}" = "$name" ] || printf '.BR %s (%s)\n' "$(printf '%s' "${s%.*}" | esc)" "${s##*.}"
done | sed -e '1i .SH SEE ALSO' -e '$!s/$/,/'
