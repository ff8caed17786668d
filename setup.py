"""Build hook: cffi's setuptools integration needs ``cffi_modules`` in setup()."""

from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"])
