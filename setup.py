"""Build the native parts; everything else lives in pyproject.toml.

``wheelscan._native`` is the ELF core, ``wheelscan._zipdir`` walks a zip's central directory.
``wheelscan._inflate`` inflates zip members with the
system's libdeflate (Debian and Ubuntu: ``libdeflate-dev``; Fedora: ``libdeflate-devel``),
and is built only where its header and library are found: without it wheelscan inflates
with ISA-L instead (``wheelscan/wheel/inflate.py``), the same results a little slower.
"""

import os
import sys
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.sysconfig import customize_compiler

OPTIMIZE = ["-O2"]


def have_libdeflate() -> bool:
    """Whether a program calling libdeflate compiles and links here."""
    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write(
                "#include <libdeflate.h>\n"
                "int main(void) { return libdeflate_alloc_decompressor() == 0; }\n"
            )
        try:
            objects = compiler.compile([source], output_dir=tmp)
            compiler.link_executable(objects, os.path.join(tmp, "probe"), libraries=["deflate"])
        except Exception:  # CompileError, LinkError: no usable libdeflate
            return False
    return True


extensions = [
    Extension("wheelscan._native", ["native/_native.pyx"], extra_compile_args=OPTIMIZE),
    Extension("wheelscan._zipdir", ["native/_zipdir.pyx"], extra_compile_args=OPTIMIZE),
]
if have_libdeflate():
    extensions.append(
        Extension(
            "wheelscan._inflate",
            ["native/_inflate.pyx"],
            libraries=["deflate"],
            extra_compile_args=OPTIMIZE,
        )
    )
else:
    print(
        "wheelscan: no libdeflate (libdeflate.h and -ldeflate) found: members will be "
        "inflated with ISA-L; install libdeflate-dev and rebuild for the faster path",
        file=sys.stderr,
    )

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)
