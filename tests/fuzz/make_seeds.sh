#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the seed corpus in corpus/decode from our own sources: seeds/*.wat (valid modules,
# with a name section), seeds/invalid/*.wat (decodable but invalid, via --no-check), hand-made
# malformed byte strings, and truncated prefixes of a valid module. Run after editing seeds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
out=corpus/decode
rm -rf "$out"
mkdir -p "$out"

for w in seeds/*.wat; do
    wat2wasm --debug-names -o "$out/$(basename "$w" .wat).wasm" "$w"
done
for w in seeds/invalid/*.wat; do
    wat2wasm --no-check -o "$out/invalid_$(basename "$w" .wat).wasm" "$w"
done

# Malformed binaries, written byte by byte.
bin() { printf "$2" >"$out/malformed_$1.bin"; }
bin empty_file ''
bin bad_magic '\x00asn\x01\x00\x00\x00'
bin bad_version '\x00asm\x02\x00\x00\x00'
bin short_header '\x00asm\x01\x00'
bin section_too_long '\x00asm\x01\x00\x00\x00\x01\x7f\x00'
bin leb_too_long '\x00asm\x01\x00\x00\x00\x01\x85\x80\x80\x80\x80\x00'
bin unknown_section '\x00asm\x01\x00\x00\x00\x0e\x01\x00'
bin section_order '\x00asm\x01\x00\x00\x00\x03\x01\x00\x01\x01\x00'
bin huge_type_count '\x00asm\x01\x00\x00\x00\x01\x05\xff\xff\xff\xff\x0f'
bin bad_valtype '\x00asm\x01\x00\x00\x00\x01\x05\x01\x60\x01\x55\x00'
bin func_code_mismatch '\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00'
bin bad_opcode '\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\x03\x00\xff\x0b'
bin missing_end '\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x04\x01\x02\x00\x01'
bin too_many_locals '\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x0c\x01\x0a\x02\xff\xff\xff\xff\x0f\x7f\x01\x7e\x0b'
bin huge_memory '\x00asm\x01\x00\x00\x00\x05\x07\x01\x01\xff\xff\x03\xff\xff\x03'
bin custom_bad_name '\x00asm\x01\x00\x00\x00\x00\x05\x09abc'
bin bad_utf8_name '\x00asm\x01\x00\x00\x00\x00\x03\x02\xc0\x80'
bin data_count_mismatch '\x00asm\x01\x00\x00\x00\x0c\x01\x02\x0b\x01\x00'
bin name_section_garbage '\x00asm\x01\x00\x00\x00\x00\x0a\x04name\x01\x09\x01\x00\x10'

# Truncated prefixes of valid modules: every decoder error path near the end of input.
for src in control memory tables; do
    f="$out/$src.wasm"
    size=$(stat -c %s "$f")
    for cut in 9 11 17 23 31 47 64 97 128 200; do
        if [ "$cut" -lt "$size" ]; then
            head -c "$cut" "$f" >"$out/trunc_${src}_$cut.bin"
        fi
    done
done
echo "$(ls "$out" | wc -l) seeds in $out"
