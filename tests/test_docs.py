"""The documentation hangs together: every page is reachable from the README, and every relative link
(and the heading it names) exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "k8s" / "README.md",
            REPO / "nix" / "README.md"]


def prose(text: str) -> str:
    """The text outside fenced code blocks and code spans: a link shown as code is not a link."""
    kept, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            kept.append(re.sub(r"(`+).*?\1", "", line))
    return "\n".join(kept)


def links(text: str) -> list[str]:
    return re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", prose(text))


def anchors(text: str) -> set[str]:
    """The ids GitHub gives the headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    ids = set()
    for line in prose_keeping_code_spans(text).splitlines():
        heading = re.match(r"#{1,6} (.*)", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        ids.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return ids


def prose_keeping_code_spans(text: str) -> str:
    kept, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence:
            kept.append(line)
    return "\n".join(kept)


def test_the_slugs_follow_githubs_rule():
    text = "# Settings\n## `sglang-runtime wait`\n## The launcher package: built here, published once\n" \
           "```sh\n# not a heading\n```\n## Settings\n"
    assert anchors(text) == {"settings", "sglang-runtime-wait", "the-launcher-package-built-here-published-once",
                             "settings-1"}


def test_every_page_is_linked_from_the_readme():
    readme = REPO / "README.md"
    targets = {(readme.parent / link.split("#")[0]).resolve() for link in links(readme.read_text(encoding="utf-8"))
               if not re.match(r"[a-z]+:", link)}
    missing = [str(p.relative_to(REPO)) for p in pages()[1:] if p.resolve() not in targets]
    assert not missing, f"README.md links none of {missing}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for link in links(text):
        if re.match(r"[a-z]+:", link):  # https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no file {target}")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target.read_text(encoding="utf-8")):
            broken.append(f"{link}: no heading #{anchor} in {target.relative_to(REPO)}")
    assert not broken, "\n".join(broken)
    assert links(text) or page.name != "README.md", "the README links its pages"


def named_modules(text: str) -> list[str]:
    """The runtime's files and modules a page names in code spans: `runtime/sglang_runtime/x.py`, `sglang_runtime.x.f`."""
    spans = re.findall(r"`([^`\n]*sglang_runtime[^`\n]*)`", prose_keeping_code_spans(text))
    return [m for span in spans for m in re.findall(r"sglang_runtime[\w./-]*\w", span)]


def exists_in_runtime(name: str) -> bool:
    package = REPO / "runtime"
    if "/" in name:  # a path; VERSION stands for any release
        return any(package.glob(name.replace("VERSION", "*")))
    parts = name.split(".")
    # sglang_runtime.compat.translate: some prefix is a module (the rest names something in it) or the package.
    return any((package.joinpath(*parts[:n]).with_suffix(".py")).is_file() or (package.joinpath(*parts[:n])).is_dir()
               for n in range(2, len(parts) + 1))


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_runtime_files_a_page_names_exist(page):
    """Modules move (the layers); a page that names one where it no longer is must follow."""
    missing = [n for n in named_modules(page.read_text(encoding="utf-8")) if not exists_in_runtime(n)]
    assert not missing, f"{page.relative_to(REPO)} names {missing}, which runtime/ does not have"


def test_a_moved_module_is_noticed():
    assert named_modules("`runtime/sglang_runtime/compat.py` and `sglang_runtime.compat.translate`") == [
        "sglang_runtime/compat.py", "sglang_runtime.compat.translate"]
    assert not exists_in_runtime("sglang_runtime/no_such_module.py")
    assert not exists_in_runtime("sglang_runtime.no_such_module.translate")
