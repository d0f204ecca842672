"""Small programs written the way a Keras user writes them (imports changed only), in
tests/programs/: each trains on seeded data and asserts what it learned."""

import os
import runpy

import pytest

from minilstm import backend

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")
NAMES = sorted(name for name in os.listdir(PROGRAMS) if name.endswith(".py"))


@pytest.mark.parametrize("name", NAMES)
def test_program_learns(name, capsys):
    backend.set_floatx("float32")
    runpy.run_path(os.path.join(PROGRAMS, name), run_name="__main__")
