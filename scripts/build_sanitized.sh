#!/usr/bin/env bash
# Build the native ELF core with AddressSanitizer and UBSan, and run against it the tests
# that reach it and the fuzzers' seed corpus.
#
#   scripts/build_sanitized.sh               # ASan + UBSan (gcc, or CC=clang): tests + corpus
#   scripts/build_sanitized.sh --fuzz SECS   # clang, also -fsanitize=fuzzer-no-link: then SECS
#                                            # seconds of each fuzz harness with the C covered
#   scripts/build_sanitized.sh --corpus DIR  # replay a grown corpus (DIR/elf, DIR/wheel) too
#
# The instrumented core is built in a copy of the tree under build/sanitized/ (the installed
# one is left alone) and put first on PYTHONPATH. Python is not instrumented, so the sanitizer
# runtime is preloaded, and PYTHONMALLOC=malloc puts every Python buffer the parser reads
# under ASan's redzones. Any report stops the run with a non-zero status.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${WHEELSCAN_SANITIZED_DIR:-$ROOT/build/sanitized}"
FUZZ_SECONDS=0
CORPUS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --fuzz) FUZZ_SECONDS="$2"; shift 2 ;;
        --corpus) CORPUS="$2"; shift 2 ;;
        *) echo "usage: $0 [--fuzz SECONDS] [--corpus DIR]" >&2; exit 2 ;;
    esac
done

SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
if [ "$FUZZ_SECONDS" != 0 ]; then
    CC=clang
    SANITIZE="$SANITIZE -fsanitize=fuzzer-no-link"
fi
CC="${CC:-gcc}"
command -v "$CC" >/dev/null || { echo "$CC not found (Debian: apt-get install $CC)" >&2; exit 2; }

echo "== building the native core with $CC: $SANITIZE"
rm -rf "$OUT/tree"
mkdir -p "$OUT/tree"
cp -r "$ROOT/setup.py" "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/native" "$ROOT/src" "$OUT/tree/"
find "$OUT/tree" \( -name '*.so' -o -name '__pycache__' -o -name '_native.c' \) -prune -exec rm -rf {} +
(
    cd "$OUT/tree"
    CC="$CC" LDSHARED="$CC -shared" \
        CFLAGS="$SANITIZE -fno-omit-frame-pointer -g -O1" LDFLAGS="$SANITIZE" \
        python setup.py -q build_ext --inplace >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
)
MODULE="$(ls "$OUT"/tree/src/wheelscan/_native*.so)"
SYMBOLS="$(nm -D "$MODULE")"
grep -q __asan_init <<<"$SYMBOLS" || { echo "$MODULE is not instrumented" >&2; exit 1; }

if [ "$FUZZ_SECONDS" != 0 ]; then
    # atheris ships libFuzzer and ASan (with UBSan) as one runtime: the instrumented C then
    # guides the fuzzer as the instrumented Python does
    RUNTIME="$(python -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so"
elif [ "$CC" = clang ]; then
    RUNTIME="$(clang -print-file-name=libclang_rt.asan-x86_64.so)"
else
    RUNTIME="$($CC -print-file-name=libasan.so) $($CC -print-file-name=libubsan.so)"
fi

export LD_PRELOAD="$RUNTIME"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:symbolize=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONMALLOC=malloc
export PYTHONPATH="$OUT/tree/src${PYTHONPATH:+:$PYTHONPATH}"
export WHEELSCAN_SANITIZED=1  # the tests skip what ASan cannot run under (RLIMIT_AS)
cd "$ROOT"
python -c "import wheelscan._native as n, sys; assert n.__file__ == sys.argv[1], n.__file__" "$MODULE"

echo "== the native tests, against $MODULE"
python -m pytest -q -p no:cacheprovider -p no:randomly \
    tests/test_native_vs_reference.py tests/test_stream.py tests/test_hostile_*.py \
    tests/test_properties.py tests/test_wheel_archive.py tests/test_tail.py

echo "== the fuzzers' seed corpus"
python fuzz/make_seeds.py "$OUT/seeds"
python fuzz/replay.py "$OUT/seeds"
if [ -n "$CORPUS" ]; then
    python fuzz/replay.py "$CORPUS"
fi

if [ "$FUZZ_SECONDS" != 0 ]; then
    for harness in elf wheel; do
        echo "== fuzz_$harness for $FUZZ_SECONDS s, the native core instrumented"
        mkdir -p "$OUT/corpus/$harness" "$OUT/crashes"
        python "fuzz/fuzz_$harness.py" "$OUT/corpus/$harness" "$OUT/seeds/$harness" \
            -max_total_time="$FUZZ_SECONDS" -artifact_prefix="$OUT/crashes/$harness-" \
            -print_final_stats=1 2>&1 | grep -v "INFO: Instrumenting" | tail -n 25
    done
fi
echo "== clean: no sanitizer report"
