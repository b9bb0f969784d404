"""pyproject.toml is the one list of dependencies; bentofile.yaml's `python.packages` is its served subset.

Every third-party module the code imports must come from a declared distribution (the service's, the offline
tools' and the load tests' from `[project].dependencies`; the tests' also from the `test` extra), and the bento
must carry exactly the distributions the service imports, with pyproject's specifiers, or constraints.txt's pin
where it has one (the image then runs the library versions the measurements were taken with).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"service", "models", "loadtests", "tests", "conftest"}

# What the served service needs (`bentoml build` packs these; the service never trains, exports or measures).
SERVICE_PACKAGES = {
    "bentoml": "the server, model store and metrics endpoint",
    "starlette": "the service's own ASGI routes and middleware",
    "pydantic": "request schemas and the validated configuration",
    "prometheus-client": "the service's metrics",
    "python-multipart": "the in-memory multipart parser",
    "numpy": "batches and probabilities",
    "pillow": "image decoding",
    "tokenizers": "text preprocessing (fast tokenizers)",
    "transformers": "the torch variants' text architectures and the tokenizers' loader",
    "onnxruntime": "the onnx-fp32 and onnx-int8 variants",
    "torch": "the torch-fp32 variants",
    "torchvision": "the torch-fp32 image architectures",
    "safetensors": "the torch-fp32 variants' weights",
    "psutil": "which worker processes of one server are alive (service.workers)",
}
SERVER_PACKAGES = {  # never imported by service/: uvicorn, under `bentoml serve`, uses them when they are installed
    "httptools": "the C HTTP/1.1 parser (instead of h11)",
    "uvloop": "the libuv event loop (instead of asyncio's)",
}


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (PyYAML == pyyaml, prometheus_client == prometheus-client)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    assert match, f"not a requirement: {spec!r}"
    return normalize(match.group(1))


def by_name(specs: list[str]) -> dict[str, str]:
    return {requirement_name(spec): "".join(spec.split()) for spec in specs}


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def declared(*extras: str) -> set[str]:
    specs = list(pyproject()["dependencies"])
    for extra in extras:
        specs += pyproject()["optional-dependencies"][extra]
    return set(by_name(specs))


def bento_packages() -> dict[str, str]:
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text(encoding="utf-8"))
    return by_name(bentofile["python"]["packages"])


def imported_modules(directory: str) -> dict[str, str]:
    """Top-level third-party modules imported anywhere under `directory` (in functions too) -> a file importing it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / directory).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


@cache
def installed_providers() -> dict[str, list[str]]:
    return packages_distributions()


def distributions(module: str) -> set[str]:
    return {normalize(name) for name in installed_providers().get(module, [])}


def undeclared_imports(directory: str, allowed: set[str]) -> list[str]:
    problems = []
    for module, where in imported_modules(directory).items():
        providers = distributions(module)
        if not providers:
            problems.append(f"{module} (imported by {where}) comes from no installed distribution")
        elif not providers & allowed:
            problems.append(f"{module} (imported by {where}) comes from {' or '.join(sorted(providers))}: undeclared")
    return problems


@pytest.mark.parametrize(
    ("directory", "extras"), [("service", ()), ("models", ()), ("loadtests", ()), ("tests", ("test",))]
)
def test_every_import_comes_from_a_declared_distribution(directory: str, extras: tuple[str, ...]) -> None:
    assert undeclared_imports(directory, declared(*extras)) == [], "add them to pyproject.toml"


def test_the_service_needs_list_is_what_the_service_imports() -> None:
    imported = set().union(*(distributions(module) for module in imported_modules("service")))
    needed = set(SERVICE_PACKAGES)
    assert sorted(imported - needed) == [], "the service imports these: add them to SERVICE_PACKAGES (and bentofile)"
    assert sorted(needed - imported) == [], "the service no longer imports these: drop them from SERVICE_PACKAGES"


def constraint_pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return by_name(pins)


def test_bentofile_packages_are_the_services_needs_as_pinned_in_pyproject_or_constraints() -> None:
    bento = bento_packages()
    project = {**by_name(pyproject()["dependencies"]), **constraint_pins()}
    needed = {**SERVICE_PACKAGES, **SERVER_PACKAGES}
    assert sorted(set(needed) - set(bento)) == [], "the service needs these; bentofile.yaml lacks them"
    assert sorted(set(bento) - set(needed)) == [], "bentofile.yaml packs these; the service does not need them"
    drifted = {name: (spec, project.get(name)) for name, spec in bento.items() if project.get(name) != spec}
    assert drifted == {}, "bentofile.yaml's specifier (left) differs from constraints.txt's or pyproject.toml's (right)"


def test_the_checks_name_the_package() -> None:
    assert by_name(["torch==2.14.1", "Prometheus_Client >= 0.20"]) == {
        "torch": "torch==2.14.1",
        "prometheus-client": "Prometheus_Client>=0.20",
    }
    [problem] = undeclared_imports("service", declared() - {"starlette"})
    assert problem.startswith("starlette (imported by service/") and problem.endswith(
        "comes from starlette: undeclared"
    )
