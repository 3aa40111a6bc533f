#!/bin/sh
# Fails on a Swift comment or DocC line that quotes a time, a memory size or a speed ratio (a
# number with ms, s, µs, min, KB, MB, GB, KiB, MiB, GiB or ×): such a figure was measured on one
# machine on one day, and the code outlives both. A comment keeps the reason and the threshold;
# the figures go to BENCHMARKS.md, dated, with the machine and the command. The lines that state
# an API threshold or a format's limit are listed in measured-comments.allowed (file, tab, phrase).
# Generated tables are not read.
set -eu
cd "$(dirname "$0")/../.."
found=$(find Sources Tests Fuzz -name '*.swift' ! -name onnx.pb.swift ! -name 'Colormap+Tables.swift' \
        ! -name 'Font+Glyphs.swift' | sort | xargs awk -v allowed=Tools/lint/measured-comments.allowed '
    BEGIN {
        FS = "\t"
        while ((getline entry < allowed) > 0) {
            if (entry ~ /^#/ || entry == "") continue
            split(entry, field, "\t"); count++; allowedFile[count] = field[1]; allowedPhrase[count] = field[2]
        }
    }
    {
        start = index($0, "//")
        if (start == 0) next
        comment = substr($0, start)
        if (comment !~ /[0-9]( ?(ms|s|µs|min|KB|MB|GB|KiB|MiB|GiB)([^A-Za-z0-9_]|$)|×([^0-9]|$))/) next
        for (i = 1; i <= count; i++) if (FILENAME == allowedFile[i] && index(comment, allowedPhrase[i]) > 0) next
        print FILENAME ":" FNR ": " comment
    }')
if [ -n "$found" ]; then
    echo "$found"
    echo "error: these comments quote measured times, sizes or ratios; keep the reason and the threshold, move the figures to BENCHMARKS.md (or list an API threshold in Tools/lint/measured-comments.allowed)" >&2
    exit 1
fi
