"""bench.plugins: a module found by name, absent as None, broken as its own error."""
import sys

import pytest

from bench.plugins import module_named


@pytest.fixture
def package(tmp_path, monkeypatch):
    (tmp_path / "kinds_here").mkdir()
    (tmp_path / "kinds_here" / "__init__.py").write_text("")
    (tmp_path / "kinds_here" / "fine.py").write_text("KIND = 'fine'\n")
    (tmp_path / "kinds_here" / "broken.py").write_text("import no_such_dependency_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "kinds_here"
    for name in [name for name in sys.modules if name.startswith("kinds_here")]:
        del sys.modules[name]


def test_a_module_of_the_package_is_found_by_name(package):
    assert module_named(package, "fine").KIND == "fine"


def test_no_such_module_is_none(package):
    assert module_named(package, "uvicorn") is None


def test_a_module_that_fails_its_own_import_says_so_rather_than_seem_absent(package):
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_anywhere"):
        module_named(package, "broken")
