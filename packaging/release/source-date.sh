# shellcheck shell=bash
# SOURCE_DATE_EPOCH, the time every file of the packages is stamped with, so that the same source
# builds the same bytes. Sourced by build.sh (uses its die, after changelog.sh's changelog_read).

# Sets SOURCE_DATE_EPOCH, and SOURCE_DATE_FROM to what it was taken from: the environment's if set;
# else, when ROOT is a git checkout, its last commit's time (finer than a day, and it moves with
# each commit); else, in a tree without its history (a release's source archive), the newest
# CHANGELOG.md entry's day at midnight UTC (CHANGELOG_EPOCH), as dpkg-parsechangelog dates a
# Debian source. Only ROOT's own .git counts: a source archive unpacked inside another repository
# is not dated by that repository's commits.
source_date_epoch() { # ROOT
  local root=$1
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_FROM='the environment'
  elif [ -e "$root/.git" ]; then
    command -v git >/dev/null 2>&1 ||
      die "$root is a git checkout and git is not on PATH to date it by its last commit: apt-get install git, or set SOURCE_DATE_EPOCH"
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct) ||
      die "git log in $root failed (above): no last commit to take SOURCE_DATE_EPOCH from"
    SOURCE_DATE_FROM="the last commit, $(git -C "$root" log -1 --format=%h)"
  elif [ -n "${CHANGELOG_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$CHANGELOG_EPOCH
    SOURCE_DATE_FROM="CHANGELOG.md, $CHANGELOG_DATE"
  else
    die "SOURCE_DATE_EPOCH is not set, $root is not a git checkout and has no CHANGELOG.md entry to date it"
  fi
  [[ "$SOURCE_DATE_EPOCH" =~ ^[0-9]+$ ]] ||
    die "SOURCE_DATE_EPOCH must be seconds since 1970, got '$SOURCE_DATE_EPOCH' (from $SOURCE_DATE_FROM)"
  export SOURCE_DATE_EPOCH
}
