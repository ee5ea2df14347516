#!/usr/bin/env bash
# The command line of every example program (CLI11, examples/cli.hpp), the same everywhere:
#   PROGRAM --help                exits 0 and prints the usage (a line starting with "Usage:") on stdout;
#   PROGRAM --no-such-option      exits 2 and names --no-such-option on stderr;
#   PROGRAM --OPTION abc          for the first numeric option that --help lists (INT, UINT or FLOAT): exits 2 and
#                                 names the option on stderr.
#
#   bash examples/check_cli.sh PROGRAM...        (ctest examples_command_line passes every example built)
#
# Each failure is printed with the program, the command, what was expected and what happened; the exit status is
# 1 if any program failed. Programs run with stdin from /dev/null and at most 60 s each (a program that ignores its
# command line could otherwise start a long run).
set -u

if [ $# -eq 0 ]; then
    echo "usage: check_cli.sh PROGRAM..." >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
problems=0

# fail PROGRAM MESSAGE: records one problem of PROGRAM.
fail() {
    echo "FAIL $1: $2"
    problems=$((problems + 1))
    case " ${failed[*]-} " in
        *" $1 "*) ;;
        *) failed+=("$1") ;;
    esac
}

# run PROGRAM ARGS...: runs it, leaving stdout, stderr and the exit status in $work/out, $work/err and $rc.
run() {
    rc=0
    timeout 60 "$@" </dev/null >"$work/out" 2>"$work/err" || rc=$?
}

# The first lines of a file, indented, for a failure message.
excerpt() {
    head -n 5 "$1" | sed 's/^/    | /'
}

for program in "$@"; do
    name=$(basename "$program")
    if [ ! -x "$program" ]; then
        fail "$name" "$program is not an executable file"
        continue
    fi

    run "$program" --help
    if [ "$rc" -ne 0 ]; then
        fail "$name" "'$name --help' exited $rc (expected 0); stderr:"
        excerpt "$work/err"
    elif ! grep -q '^Usage:' "$work/out"; then
        fail "$name" "'$name --help' printed no line starting with 'Usage:' on stdout; stdout:"
        excerpt "$work/out"
    fi
    help="$work/help.$name"
    cp "$work/out" "$help"

    run "$program" --no-such-option
    if [ "$rc" -ne 2 ]; then
        fail "$name" "'$name --no-such-option' exited $rc (expected 2); stderr:"
        excerpt "$work/err"
    elif ! grep -q -e '--no-such-option' "$work/err"; then
        fail "$name" "'$name --no-such-option' exited 2 but its stderr does not name --no-such-option; stderr:"
        excerpt "$work/err"
    fi

    # The first option that --help lists with a numeric type ("  --threads INT:NON-NEGATIVE=0", "  -n,--count UINT"):
    # its last name.
    option=$(sed -nE 's/^ +(-[^ ]+) +(INT|UINT|FLOAT)([ :=]|$).*/\1/p' "$help" | head -n 1)
    option=${option##*,}
    if [ -n "$option" ]; then
        run "$program" "$option" abc
        if [ "$rc" -ne 2 ]; then
            fail "$name" "'$name $option abc' exited $rc (expected 2); stderr:"
            excerpt "$work/err"
        elif ! grep -q -F -e "$option" "$work/err"; then
            fail "$name" "'$name $option abc' exited 2 but its stderr does not name $option; stderr:"
            excerpt "$work/err"
        fi
    fi
    case " ${failed[*]-} " in
        *" $name "*) ;;
        *) echo "ok   $name: --help, --no-such-option${option:+, $option abc}" ;;
    esac
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "$problems problem(s) in ${#failed[@]} of $# programs: ${failed[*]}"
    exit 1
fi
echo "all $# programs: --help, unknown options and malformed numbers as expected"
