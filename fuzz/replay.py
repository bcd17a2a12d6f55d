"""Run the fuzz harnesses' checks once on every file of a corpus, without atheris:
``python fuzz/replay.py DIR`` runs the ELF checks on ``DIR/elf/*``, and the wheel checks and
the comparison with ``zipfile`` on ``DIR/wheel/*`` (a seed corpus from make_seeds.py, or a
corpus a fuzzing run grew).

This is how the sanitizer build runs the corpus (scripts/build_sanitized.sh): atheris' own
libFuzzer runtime would have to be the sanitizer runtime too, which a gcc build is not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import fuzz_elf
import fuzz_wheel
import fuzz_zipdiff


def main(corpus: Path) -> None:
    for harness, sub in ((fuzz_elf, "elf"), (fuzz_wheel, "wheel"), (fuzz_zipdiff, "wheel")):
        test = harness.setup()
        files = sorted((corpus / sub).iterdir())
        for path in files:
            try:
                test(path.read_bytes())
            except Exception:
                print(f"failed on {path}", file=sys.stderr)
                raise
        print(f"{sub}: {len(files)} inputs, no failure")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python fuzz/replay.py CORPUS_DIR")
    main(Path(sys.argv[1]))
