"""Build the native parts; everything else lives in pyproject.toml.

``wheelscan._native`` is the ELF core; ``wheelscan._inflate`` inflates zip members with the
vendored libdeflate (native/vendor/libdeflate/VENDORED.md).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

LIBDEFLATE = "native/vendor/libdeflate"

extensions = [
    Extension(
        "wheelscan._native",
        ["native/_native.pyx"],
        extra_compile_args=["-O2"],
    ),
    Extension(
        "wheelscan._inflate",
        [
            "native/_inflate.pyx",
            *(
                f"{LIBDEFLATE}/lib/{name}"
                for name in (
                    "deflate_decompress.c",
                    "crc32.c",
                    "utils.c",
                    "x86/cpu_features.c",
                    "arm/cpu_features.c",
                )
            ),
        ],
        include_dirs=[LIBDEFLATE],
        # libdeflate's own build uses -O2 and hides its symbols inside the extension
        extra_compile_args=["-O2", "-fvisibility=hidden"],
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)
