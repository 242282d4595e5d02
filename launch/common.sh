# Helpers shared by the launch scripts (sourced, not run).
# shellcheck shell=bash

DRY_RUN=0

# usage: the script's header comment (its lines 2 .. the first line not a comment).
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

# quote ARG: ARG as a shell word: bare when safe, else in single quotes.
quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# quote_args ARG...: the arguments as one string of shell words (for --command, or printing).
quote_args() {
  local arg words=()
  for arg in "$@"; do
    words+=("$(quote "$arg")")
  done
  printf '%s' "${words[*]}"
}

# run CMD...: runs a command, or with --dry-run prints it, copy-pasteable, instead.
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '%s\n' "$(quote_args "$@")"
  else
    "$@"
  fi
}

# require NAME...: stops (exit 2, before any command runs) when a setting is unset or empty.
require() {
  local name missing=()
  for name in "$@"; do
    if [[ -z "${!name:-}" ]]; then
      missing+=("$name")
    fi
  done
  if (( ${#missing[@]} )); then
    printf 'error: set %s (see launch/README.md)\n' "${missing[*]}" >&2
    exit 2
  fi
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 2
}

# parse_args ARG...: sets DRY_RUN, command (the one COMMAND) and main_flags (all after --).
# shellcheck disable=SC2034  # command and main_flags are the caller's
parse_args() {
  command=''
  main_flags=()
  while (( $# )); do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      -h|--help) usage; exit 0 ;;
      --) shift; main_flags=("$@"); break ;;
      -*) die "unknown option $1 (see --help)" ;;
      *) [[ -z "$command" ]] || die "one COMMAND at a time, got $command and $1"; command="$1" ;;
    esac
    shift
  done
  [[ -n "$command" ]] || { usage >&2; exit 2; }
}
