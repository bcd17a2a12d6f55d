"""Build the native parts; everything else lives in pyproject.toml.

``wheelscan._native`` is the ELF core, ``wheelscan._zipdir`` walks a zip's central directory,
``wheelscan._inflate`` inflates zip members with the libdeflate that the ``deflate`` package
brings (bound when imported, see native/_inflate.pyx), ``wheelscan._tail`` inflates the
end of a member without its beginning.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

OPTIMIZE = ["-O2"]
# the deflate decoder's hot loops: -O3 measured 5% faster than -O2 on the benchmark's
# largest libraries, counting and writing alike
HOT_LOOPS = ["-O3"]


extensions = [
    Extension("wheelscan._native", ["native/_native.pyx"], extra_compile_args=OPTIMIZE),
    Extension("wheelscan._zipdir", ["native/_zipdir.pyx"], extra_compile_args=OPTIMIZE),
    # libdeflate's functions are looked up at import, in the ``deflate`` package: no header
    # nor library is needed to build it
    Extension("wheelscan._inflate", ["native/_inflate.pyx"], extra_compile_args=OPTIMIZE),
    Extension("wheelscan._tail", ["native/_tail.pyx"], extra_compile_args=HOT_LOOPS),
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)
