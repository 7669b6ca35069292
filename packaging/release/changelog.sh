# shellcheck shell=bash
# CHANGELOG.md, the record of each release kept in the source: entries '## VERSION — YYYY-MM-DD'
# (or '## [VERSION] - YYYY-MM-DD'), newest first, each a list of changes. The newest names the
# version being built and the day it was released; all of them become the .deb's and the .rpm's
# changelogs. Sourced by build.sh (uses its die).

# Reads FILE, checks it, and sets CHANGELOG_EPOCH (midnight UTC of the newest entry's day, the
# timestamp dpkg-parsechangelog gives such an entry), CHANGELOG_DATE and CHANGELOG_ENTRIES: for each
# entry "=<TAB>VERSION<TAB>EPOCH", then "-<TAB>CHANGE" for each of its changes, one line each.
changelog_read() { # FILE VERSION
  local file=$1 version=$2 want line kind text v d e prev_v='' prev_e='' changes=0
  want="'## $version — YYYY-MM-DD' (the version in package.json, the day it was released)"
  [ -f "$file" ] || die "$file is missing: its newest entry must read $want"
  CHANGELOG_ENTRIES='' CHANGELOG_DATE='' CHANGELOG_EPOCH=''
  while IFS=$'\t' read -r kind line text; do
    if [ "$kind" = - ]; then
      changes=$((changes + 1))
      CHANGELOG_ENTRIES+="-"$'\t'"$text"$'\n'
      continue
    fi
    if [ -n "$prev_v" ] && [ "$changes" -eq 0 ]; then die "$file: the entry for $prev_v lists no changes"; fi
    if ! [[ "$text" =~ ^\[?([0-9]+\.[0-9]+\.[0-9]+)\]?\ +(—|–|-)\ +([0-9]{4}-[0-9]{2}-[0-9]{2})\ *$ ]]; then
      [ -n "$prev_v" ] || die "$file:$line: '## $text' is not an entry heading: the newest entry must read $want"
      die "$file:$line: '## $text' is not an entry heading '## VERSION — YYYY-MM-DD'"
    fi
    v=${BASH_REMATCH[1]} d=${BASH_REMATCH[3]}
    e=$(date -u -d "${d}T00:00:00Z" +%s 2>/dev/null) || die "$file:$line: $d is not a date (YYYY-MM-DD)"
    if [ -z "$prev_v" ]; then
      [ "$v" = "$version" ] ||
        die "$file:$line: the newest entry is for $v, package.json's version is $version: add $want above it"
      # shellcheck disable=SC2034 # read by source-date.sh
      CHANGELOG_DATE=$d CHANGELOG_EPOCH=$e
    elif [ "$e" -gt "$prev_e" ] || [ "$v" = "$prev_v" ]; then
      # rpmbuild refuses a %changelog out of date order, dpkg an entry that repeats a version.
      die "$file:$line: entries go newest first, each version once: $v ($d) is below $prev_v"
    fi
    prev_v=$v prev_e=$e changes=0
    CHANGELOG_ENTRIES+="="$'\t'"$v"$'\t'"$e"$'\n'
  done < <(changelog_lines "$file")
  [ -n "$prev_v" ] || die "$file has no entry: its newest must read $want"
  [ "$changes" -gt 0 ] || die "$file: the entry for $prev_v lists no changes"
}

# FILE's '## ' headings and changes, for changelog_read. Before the first heading is the file's
# preamble; '###' sub-headings are dropped; a list item, with the lines indented under it, is one
# change, as is a paragraph.
changelog_lines() { # FILE
  awk '
    function flush() { if (change != "") print "-\t" NR "\t" change; change = "" }
    { sub(/\r$/, ""); gsub(/\t/, " ") }
    /^## / { flush(); print "#\t" NR "\t" substr($0, 4); seen = 1; next }
    !seen { next }
    /^#/ || /^[ ]*$/ { flush(); next }
    /^[-*+] / { flush(); change = substr($0, 3); next }
    { sub(/^ +/, ""); change = change == "" ? $0 : change " " $0 }
    END { flush() }
  ' "$1"
}

# Calls EMIT ARG... N VERSION EPOCH CHANGE... for each entry of CHANGELOG_ENTRIES, the newest
# (N = 1) first.
changelog_each() { # EMIT ARG...
  local kind a b n=0 v='' e='' changes=()
  while IFS=$'\t' read -r kind a b; do
    case $kind in
      =)
        [ -z "$v" ] || "$@" "$n" "$v" "$e" "${changes[@]}"
        n=$((n + 1)) v=$a e=$b changes=()
        ;;
      -) changes+=("$a") ;;
    esac
  done <<<"$CHANGELOG_ENTRIES"
  [ -z "$v" ] || "$@" "$n" "$v" "$e" "${changes[@]}"
}

# Each CHANGE, wrapped at 78 columns: FIRST before its first line, NEXT before the others.
changelog_wrap() { # FIRST NEXT CHANGE...
  printf '%s\n' "${@:3}" | awk -v p1="$1" -v p2="$2" '{
    n = split($0, w, / +/); line = p1; empty = 1
    for (i = 1; i <= n; i++) {
      if (w[i] == "") continue
      if (!empty && length(line) + 1 + length(w[i]) > 78) { print line; line = p2; empty = 1 }
      line = empty ? line w[i] : line " " w[i]; empty = 0
    }
    print line
  }'
}

# The Debian changelog (usr/share/doc/PACKAGE/changelog.gz of a native package): each entry dated
# at its day's midnight UTC and signed by MAINTAINER; NOTE, if given, is a last change of the newest.
changelog_deb() { # PACKAGE MAINTAINER NOTE
  changelog_each changelog_deb_entry "$@"
}
changelog_deb_entry() { # PACKAGE MAINTAINER NOTE N VERSION EPOCH CHANGE...
  local package=$1 maintainer=$2 note=$3 n=$4 v=$5 e=$6
  shift 6
  [ "$n" -eq 1 ] || echo
  if [ "$n" -eq 1 ] && [ -n "$note" ]; then set -- "$@" "$note"; fi
  printf '%s (%s) stable; urgency=medium\n\n' "$package" "$v"
  changelog_wrap '  * ' '    ' "$@"
  printf '\n -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -d "@$e" -R)"
}

# The .rpm's %changelog, its entries for Release RELEASE, in the same way.
changelog_rpm() { # MAINTAINER RELEASE NOTE
  changelog_each changelog_rpm_entry "$@"
}
changelog_rpm_entry() { # MAINTAINER RELEASE NOTE N VERSION EPOCH CHANGE...
  local maintainer=$1 release=$2 note=$3 n=$4 v=$5 e=$6
  shift 6
  [ "$n" -eq 1 ] || echo
  if [ "$n" -eq 1 ] && [ -n "$note" ]; then set -- "$@" "$note"; fi
  printf '* %s %s - %s-%s\n' "$(LC_ALL=C date -u -d "@$e" '+%a %b %d %Y')" "$maintainer" "$v" "$release"
  # rpmbuild expands macros in %changelog: each '%' of the text is written '%%'.
  changelog_wrap '- ' '  ' "${@//%/%%}"
}
