"""The README's configuration table lists every environment variable the code reads."""
import re

from tests.conftest import ROOT

SOURCES = ["hrmars_site/settings.py", "scripts/lib.sh", "scripts/run.sh", "scripts/test.sh"]


def variables_read() -> set[str]:
    names: set[str] = set()
    for source in SOURCES:
        text = (ROOT / source).read_text()
        names |= set(re.findall(r'env_\w+\(\s*"([A-Z][A-Z0-9_]+)"', text))
        names |= set(re.findall(r"\$\{(HRMARS_[A-Z0-9_]+|[A-Z][A-Z0-9_]+_URL)[:}]", text))
    return names


def test_every_environment_variable_is_documented():
    readme = (ROOT / "README.md").read_text()
    names = variables_read()
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "HRMARS_PORT"} <= names  # the scan works
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"README's configuration table lacks: {missing}"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
    assert "./scripts/test.sh" in (ROOT / "README.md").read_text()
