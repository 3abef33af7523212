"""The apps' layering (issue 10): a lower app imports no higher one, anywhere in its code (imports inside functions
included), so each can be read, tested and replaced without the apps above it."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HIGHER_THAN_PROVIDERS = ("chats", "merging", "web", "tools", "openai_api", "uploads")


def imported_modules(package: str) -> dict[str, set[str]]:
    """Each module file of `package` (migrations left out) → the dotted names it imports."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{module} imports {name}" for module, names in imported_modules(package).items()
                  for name in names if any(name == top or name.startswith(top + ".") for top in forbidden))


def test_merging_imports_nothing_from_chats_api():
    assert offenders("merging", ("chats.api",)) == []


def test_the_message_shape_merging_answers_is_the_one_chats_answers():
    from chats.api import views as chats_views
    from merging.api import views as merging_views

    assert merging_views.MessageSerializer is chats_views.MessageSerializer


@pytest.mark.parametrize("higher", ["providers", "chats", "merging", "web", "tools", "openai_api", "usage"])
def test_core_knows_no_higher_app(higher):
    assert offenders("core", (higher,)) == []


def test_providers_know_no_higher_app():
    assert offenders("providers", HIGHER_THAN_PROVIDERS) == []


def test_the_chat_lifespan_does_not_import_merging():
    assert not any(name == "merging" or name.startswith("merging.")
                   for name in imported_modules("chats")["chats/lifespan.py"])
