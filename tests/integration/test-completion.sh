#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hostctl's bash completion (ctl/hostctl.bash-completion), driven the way
# bash drives it: COMP_WORDS/COMP_CWORD, then the function.  Job IDs come
# from the running hostd.
. "$(dirname "$0")/lib.sh"

BC=/usr/share/bash-completion/bash_completion
[ -r "$BC" ] || { echo "bash-completion missing"; exit 77; }
COMPLETION=$(dirname "$0")/../../ctl/hostctl.bash-completion

start_hostd
J=$(jqf .job allocate --owner t/completion --platform "$(native_platform)")

# complete WORDS...: the candidates for the last word, sorted, one line.
complete_words() {
        PATH="$(dirname "$HOSTCTL"):$PATH" bash -c '
                . "$1" >/dev/null 2>&1; . "$2"; shift 2
                COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
                COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                _hostctl hostctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$BC" "$COMPLETION" "$@"
}

check "verbs" [ "$(complete_words hostctl re)" = "release reload renew resume " ]
check "global options" [ "$(complete_words hostctl --j)" = "--json " ]
check "the verb after a global option and its value" [ "$(complete_words hostctl --socket "$SOCK" st)" = "status " ]
check "allocate's flags" [ "$(complete_words hostctl allocate --pl)" = "--platform " ]
check "platforms" [ "$(complete_words hostctl allocate --platform linux/ar)" = "linux/arm64 " ]
check "job IDs from hostd for release" [ "$(complete_words hostctl release j)" = "$J " ]
check "... and for job, through --socket" [ "$(complete_words hostctl --socket "$SOCK" job "")" = "$J " ]
check "renew: the job, then --lease" [ "$(complete_words hostctl renew "$J" --)" = "--lease " ]
check "metrics --output" [ "$(complete_words hostctl metrics --o)" = "--output " ]
check "policy check" [ "$(complete_words hostctl policy c)" = "check " ]
hc release "$J" >/dev/null
check "no released job is offered" [ "$(complete_words hostctl release j)" = "" ]

stop_hostd
finish
