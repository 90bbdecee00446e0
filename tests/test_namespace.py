"""`import brickwork as bw`: the public names, lazily; the package docstring's example runs."""

import doctest
import subprocess
import sys

import brickwork as bw


def test_the_package_docstring_example_runs():
    result = doctest.testmod(bw, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


def test_dir_lists_the_public_api_and_every_name_resolves():
    names = dir(bw)
    for name in ("layers", "data", "models", "train", "Sequential", "fit", "load", "ModelCard"):
        assert name in names
    for name in bw.__all__:
        assert getattr(bw, name) is not None
    assert bw.layers.Dense(3) == {"type": "dense", "units": 3}


def test_generate_and_forecast_are_their_packages_whatever_was_imported_first():
    import brickwork.generate.sampling  # noqa: F401  (sets the package attribute, as any import does)

    assert callable(bw.generate.generate) and bw.generate.generate is bw.generate.sampling.generate
    assert callable(bw.forecast.forecast)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_importing_brickwork_and_asking_its_version_load_neither_torch_nor_matplotlib():
    loaded = _modules_after("import sys, brickwork")
    assert not {"torch", "matplotlib", "numpy"} & loaded
    cli = _modules_after(
        "import runpy, sys\n"
        "sys.argv = ['brickwork', '--version']\n"
        "try:\n    runpy.run_module('brickwork', run_name='__main__')\n"
        "except SystemExit:\n    pass"
    )
    assert "brickwork.cli.main" in cli and "torch" not in cli
