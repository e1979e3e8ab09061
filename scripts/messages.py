"""List the messages the code can show, and refresh the catalogues (run after changing messages).

    python scripts/messages.py            # print the message ids found in the code
    python scripts/messages.py --update   # add new ids to every .po (pybabel update), keep translations

A message id is the first argument of a call to one of heygem_kernel.i18n.KEYWORDS (``_``,
``N_``, the exception classes) when it is a plain string literal; f-strings are values, not
messages. tests/test_i18n.py checks that every id found here is translated in every catalogue.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("heygem_kernel", "widgets")


def message_ids(root: Path = ROOT) -> dict[str | tuple[str, str], str]:
    """{message id: "file:line" of its first use}; a message id with a context (``NC_("scan column", "ok")``)
    is the key ``(context, message id)``."""
    sys.path.insert(0, str(root))
    from heygem_kernel.i18n import CONTEXT_KEYWORDS, KEYWORDS
    found: dict[str, str] = {}
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and node.args):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                arg = node.args[0]
                if name in KEYWORDS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.setdefault(arg.value, f"{path.relative_to(root)}:{node.lineno}")
                elif name in CONTEXT_KEYWORDS and len(node.args) > 1 and all(
                        isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:2]):
                    found.setdefault((node.args[0].value, node.args[1].value),
                                     f"{path.relative_to(root)}:{node.lineno}")
    return found


def update() -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po
    from heygem_kernel.i18n import CATALOGUES, DOMAIN, LOCALE_DIR
    template = Catalog(domain=DOMAIN, project="heygem-workbench")
    for key, where in message_ids().items():
        context, msgid = key if isinstance(key, tuple) else (None, key)
        file, line = where.rsplit(":", 1)
        template.add(msgid, locations=[(file, int(line))], context=context)
    for folder in CATALOGUES.values():
        po = LOCALE_DIR / folder / "LC_MESSAGES" / f"{DOMAIN}.po"
        po.parent.mkdir(parents=True, exist_ok=True)
        if po.exists():
            with open(po, "rb") as fh:
                catalog = read_po(fh, locale=folder, domain=DOMAIN)
        else:
            catalog = Catalog(locale=folder, domain=DOMAIN, project="heygem-workbench")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False            # the header: a fuzzy one is left out of the compiled catalogue
        with open(po, "wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, include_previous=False)
        missing = [m.id for m in catalog if m.id and not m.string]
        print(f"{po.relative_to(ROOT)}: {len(catalog)} messages, {len(missing)} untranslated")


if __name__ == "__main__":
    if "--update" in sys.argv:
        update()
    else:
        for key, where in message_ids().items():
            print(f"{where}\t" + (f"{key[1]}\t(context: {key[0]})" if isinstance(key, tuple) else key))
