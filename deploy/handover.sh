#!/usr/bin/env bash
# Hands the package `sam build` made from the pipeline's package job to its deploy jobs
# (.github/workflows/delivery.yml) as one archive, so that bootstrap keeps its execute
# bit: actions/upload-artifact does not keep file permissions (its README says so and
# suggests a tar), and SAM zips a file with its own mode plus read bits only, so a
# bootstrap handed over as a folder reaches Lambda as 0644 and every invocation fails
# with Runtime.InvalidEntrypoint. tests/tools/test_handover.py replays the hand-over.
#
#   deploy/handover.sh pack   [BUILD_DIR] [ARCHIVE]   (defaults .aws-sam/build, sam-build.tar)
#   deploy/handover.sh unpack [BUILD_DIR] [ARCHIVE]   unpack, then refuse a bootstrap that is not 0755
set -euo pipefail
action=${1:-}
build=${2:-.aws-sam/build}
archive=${3:-sam-build.tar}

case "$action" in
  pack)
    tar -cf "$archive" -C "$(dirname "$build")" "$(basename "$build")"
    echo "handover: $build packed into $archive (modes kept)"
    ;;
  unpack)
    mkdir -p "$(dirname "$build")"
    tar -xpf "$archive" -C "$(dirname "$build")"
    found=0
    while IFS= read -r -d '' bootstrap; do
      found=$((found + 1))
      mode=$(stat -c %a "$bootstrap")
      if [[ "$mode" != 755 ]]; then
        echo "handover: $bootstrap has mode $mode, not 755: Lambda could not execute it" >&2
        exit 1
      fi
    done < <(find "$build" -name bootstrap -type f -print0)
    if [[ $found -eq 0 ]]; then
      echo "handover: no bootstrap in $build" >&2
      exit 1
    fi
    echo "handover: $archive unpacked into $build; bootstrap mode 755"
    ;;
  *)
    echo "usage: deploy/handover.sh pack|unpack [BUILD_DIR] [ARCHIVE]" >&2
    exit 2
    ;;
esac
