#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/check.sh - static house-style checks (CONTRIBUTING.md, "Atomics
# and ORDER tags" and "Style").
#
#  1. No line in src/ outside src/core/lfc_atomic.h mentions ck_pr_: every atomic
#     goes through the lfc_atomic.h wrappers.
#  2. Every call of an lfc_ atomic wrapper in src/*.c and src/*.h (other than
#     lfc_atomic.h itself) has a comment containing "ORDER " on the same line
#     or within the two lines above, e.g.
#         /* ORDER acq: pairs with rel in chan_publish(); ... */
#     A tag that wraps is also accepted when its comment block ends on the
#     line just above the call.
#     Calls are found in code only: comments and string literals are
#     stripped first, so prose that names a wrapper is not a call.
#  3. Every source-like file under include/ src/ tests/ bench/ scripts/
#     examples/ cmake/ .ci/ fuzz/ verify/ (and the top-level CMakeLists.txt) has an
#     SPDX-License-Identifier line in its first 3 lines. Build outputs and
#     git-ignored files are skipped, as are data and docs (.md, .json, ...).
#  4. Layers (CONTRIBUTING.md, "Layers"): every file in src/ lives in one
#     of src/core, src/chan, src/sync, src/flow, and includes private
#     headers ("lfc_*.h") only from its own layer or a lower one (core <
#     chan < sync < flow); flow/ includes none but core's. Public headers
#     ("lfchan/*.h") are open to every layer.
#
# Prints file:line: message for each problem and exits 1 if there are any.
# Runnable from any directory; needs only bash, grep and a POSIX awk.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail=0
report() {
    printf '%s\n' "$*"
    fail=$((fail + 1))
}

# --- 1. ck_pr_ only in src/core/lfc_atomic.h ---------------------------------
if [[ -d src ]]; then
    while IFS= read -r hit; do
        report "$hit: ck_pr_ outside src/core/lfc_atomic.h (use its wrappers)"
    done < <(grep -rnH --exclude=lfc_atomic.h -e 'ck_pr_' src 2>/dev/null |
             cut -d: -f1,2 || true)
fi

# --- 2. ORDER tags on atomic wrapper calls -------------------------------
atomic_files=()
if [[ -d src ]]; then
    while IFS= read -r f; do
        [[ $f == src/core/lfc_atomic.h ]] && continue
        atomic_files+=("$f")
    done < <(find src -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
fi

if ((${#atomic_files[@]} > 0)); then
    while IFS= read -r hit; do
        report "$hit"
    done < <(awk '
        # code_of: the line with comments and string/char literals blanked.
        # in_c carries an open /* comment across lines.
        function code_of(s,    out, i, c, n, q) {
            out = ""
            n = length(s)
            i = 1
            while (i <= n) {
                c = substr(s, i, 1)
                if (in_c) {
                    if (c == "*" && substr(s, i + 1, 1) == "/") {
                        in_c = 0
                        i += 2
                    } else {
                        i++
                    }
                    out = out " "
                    continue
                }
                if (c == "/" && substr(s, i + 1, 1) == "*") {
                    in_c = 1
                    i += 2
                    out = out " "
                    continue
                }
                if (c == "/" && substr(s, i + 1, 1) == "/")
                    break
                if (c == "\"" || c == "\047") {
                    q = c
                    i++
                    while (i <= n && substr(s, i, 1) != q) {
                        if (substr(s, i, 1) == "\\")
                            i++
                        i++
                    }
                    i++
                    out = out q q
                    continue
                }
                out = out c
                i++
            }
            return out
        }
        function is_tag(s) {
            return index(s, "ORDER ") > 0 &&
                   (index(s, "/*") > 0 || index(s, "//") > 0 ||
                    s ~ /^[ \t]*\*/)
        }
        FNR == 1 { in_c = 0; p1 = ""; p2 = ""; p1_cmt = 0; blk_tag = 0 }
        {
            code = code_of($0)
            # A tag may also open a multi-line comment that ends on the
            # line just above the call (blk_tag: that block has ORDER).
            if (code ~ /(^|[^A-Za-z0-9_])lfc_(load|store|cas|faa|fas|fetch_add|fetch_or|fetch_sub|fence|xchg|inc|dec|or|and)_[a-z0-9_]*[(]/ &&
                !is_tag($0) && !is_tag(p1) && !is_tag(p2) &&
                !(p1_cmt && blk_tag)) {
                line = $0
                sub(/^[ \t]+/, "", line)
                printf "%s:%d: atomic call without an ORDER tag in the " \
                       "two lines above: %s\n", FILENAME, FNR, line
            }
            if (code !~ /[^ \t]/ && $0 ~ /[^ \t]/) {
                blk_tag = (p1_cmt && blk_tag) || index($0, "ORDER ") > 0
                p1_cmt = 1
            } else {
                p1_cmt = 0
                blk_tag = 0
            }
            p2 = p1
            p1 = $0
        }
    ' "${atomic_files[@]}")
fi

# --- 3. SPDX lines ---------------------------------------------------------
spdx_dirs=(include src tests bench scripts examples cmake .ci fuzz verify)

list_files() {
    local dirs=() d
    for d in "${spdx_dirs[@]}"; do
        [[ -d $d ]] && dirs+=("$d")
    done
    [[ -f CMakeLists.txt ]] && dirs+=(CMakeLists.txt)
    ((${#dirs[@]} > 0)) || return 0
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Tracked and untracked files, minus what .gitignore excludes.
        git ls-files --cached --others --exclude-standard -- "${dirs[@]}"
    else
        find "${dirs[@]}" \( -name build -o -name results -o -name .git \
             -o -name 'build-*' \) -prune -o -type f -print
    fi
}

is_source() {
    case "$1" in
    *.c | *.h | *.cc | *.cpp | *.cxx | *.hh | *.hpp | *.sh | *.bash | \
    *.py | *.awk | *.cmake | *.in | */CMakeLists.txt | CMakeLists.txt | \
    *.gp | *.plt | *.supp)
        return 0 ;;
    *.md | *.json | *.txt | *.csv | *.svg | *.png | *.dat | *.log)
        return 1 ;;
    esac
    # Fuzz corpora are data, whatever their names.
    [[ $1 == fuzz/corpus/* ]] && return 1
    # Anything else counts if it is a script (tr: binary data may hold NULs).
    [[ $(head -c 2 "$1" 2>/dev/null | tr -d '\0') == '#!' ]]
}

while IFS= read -r f; do
    [[ -f $f ]] || continue
    is_source "$f" || continue
    if ! grep -q 'SPDX-License-Identifier:' <(head -n 3 "$f"); then
        report "$f:1: no SPDX-License-Identifier line in the first 3 lines"
    fi
done < <(list_files | LC_ALL=C sort -u)

# --- 4. layers: includes point down only ----------------------------------
# layer_rank DIR: 0 core, 1 chan, 2 sync, 3 flow; empty if not a layer.
layer_rank() {
    case "$1" in
    core) echo 0 ;;
    chan) echo 1 ;;
    sync) echo 2 ;;
    flow) echo 3 ;;
    esac
}

if [[ -d src ]]; then
    while IFS= read -r f; do
        dir=${f#src/}
        dir=${dir%%/*}
        rank=$(layer_rank "$dir")
        if [[ -z $rank || $f != src/*/* ]]; then
            report "$f:1: not in a layer (src/core, src/chan, src/sync, src/flow)"
            continue
        fi
        while IFS=: read -r line hdr; do
            hdr=${hdr#*\"}
            hdr=${hdr%%\"*}
            [[ $hdr == lfchan/* || $hdr == lfchan.h ]] && continue
            found=$(find src -mindepth 2 -maxdepth 2 -name "$hdr" -print -quit)
            if [[ -z $found ]]; then
                report "$f:$line: \"$hdr\" is no private header of src/"
                continue
            fi
            hdir=${found#src/}
            hdir=${hdir%%/*}
            hrank=$(layer_rank "$hdir")
            if ((hrank > rank)) || [[ $dir == flow && $hdir != core &&
                $hdir != flow ]]; then
                report "$f:$line: $dir/ includes $hdir/$hdr (layers point down; flow/ sees core/ only)"
            fi
        done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
                 sed 's/^\([0-9]*\):/\1:/' || true)
    done < <(find src -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
fi

if ((fail > 0)); then
    printf 'check.sh: FAIL (%d problem(s))\n' "$fail" >&2
    exit 1
fi
printf 'check.sh: OK\n' >&2
