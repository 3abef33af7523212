"""`.env.example` lists every variable the settings read."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_read_from_the_environment_is_listed():
    read = set()
    for settings_file in (ROOT / "config" / "settings").glob("*.py"):
        read |= set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", settings_file.read_text()))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert read, "no settings found"
    assert sorted(read - listed) == []


def test_nothing_listed_is_ignored(settings):
    sources = "".join(path.read_text() for path in (ROOT / "config" / "settings").glob("*.py"))
    sources += "".join(path.read_text() for path in (ROOT / "tests").glob("**/conftest.py"))
    read = set(re.findall(r"""["']([A-Z][A-Z0-9_]+)["']""", sources))
    read |= {f"{slug.upper()}_BASE_URL" for slug in settings.PARLEY_PROVIDER_ENV}
    # The settings read each provider's key variables from the provider registry (the one list of providers).
    from providers.registry import provider_env_variables

    read |= {name for names in provider_env_variables().values() for name in names}
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert sorted(listed - read) == []


def test_each_variable_is_listed_once():
    names = re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE)
    assert sorted(name for name in set(names) if names.count(name) > 1) == []
