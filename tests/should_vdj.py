"""Expectations of the curated `should-vdj` reads (header format in ../shared/README.md)
and the check of a designation against them, for the designation tests of issue 3.

`>DESIGNATION [LOCUS] {JUNCTION_AA} KEYWORDS # comment`: genes with the N regions
between them (`delLeft/INSERT/delRight`, INSERT being nucleotides, a length or
empty; an N region may be omitted), `(a, b)` alternatives for any group of terms,
`{...}` the expected junction in amino acids (a substring of the result), and the
keywords BUG / TODO (BUG-LOCUS counts as BUG). An expectation without any N region
names genes only: the result must have them, in order, and may have D genes it does
not name (`TRDV2 TRAJ29` is met by `TRDV2*01 0/GGA/4 TRDD3*01 4//7 TRAJ29*01`). One
file of the suite writes N-region alternatives in braces (`{6//4, 5//5}`): braces
holding `/` are read as alternatives; another separates the terms with `_`
(`TRDD2*01_0//0_TRDJ1*01`), read as blanks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from helpers import read_fasta

KEYWORDS = {"BUG", "TODO", "BUG-LOCUS"}
N_REGION = re.compile(r"^(\d+)/([A-Za-z]*|\d+)/(\d+)$")


@dataclass(frozen=True)
class NRegion:
    del_left: int
    insert: str  # nucleotides, '' (none), or digits (that many nucleotides)
    del_right: int

    def matches(self, other: NRegion) -> bool:
        if (self.del_left, self.del_right) != (other.del_left, other.del_right):
            return False
        if self.insert.isdigit():
            return len(other.insert) == int(self.insert) if not other.insert.isdigit() else self.insert == other.insert
        return self.insert.upper() == other.insert.upper()


@dataclass(frozen=True)
class Gene:
    name: str  # e.g. IGHV3-23*01, TRDD2, KDE, Intron

    def matches(self, result: Gene) -> bool:
        if self.name == ANY_GENE:
            return True
        expected, got = _normalise(self.name), _normalise(result.name)
        if "*" in expected:
            return expected == got
        return got.split("*")[0] == expected


Term = Gene | NRegion


def _normalise(name: str) -> str:
    """`TRAV29/DV5*01` and `TRAV29*01` are the same gene."""
    gene, _, allele = name.partition("*")
    gene = gene.split("/")[0]
    return f"{gene}*{allele}" if allele else gene


ANY_GENE = "*"


def parse_terms(text: str) -> list[Term]:
    """A designation without alternatives: genes and N regions. A designation that
    starts with an N region does not name its 5' gene: any gene is expected there."""
    terms: list[Term] = []
    for token in text.split():
        match = N_REGION.match(token)
        if match:
            if not terms:
                terms.append(Gene(ANY_GENE))
            terms.append(NRegion(int(match.group(1)), match.group(2), int(match.group(3))))
        else:
            terms.append(Gene(token))
    return terms


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def expand(text: str) -> list[str]:
    """Every designation that the alternatives `(a, b)` allow."""
    start = text.find("(")
    if start < 0:
        return [" ".join(text.split())]
    depth = 0
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            break
    else:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    head, inner, tail = text[:start], text[start + 1 : end], text[end + 1 :]
    results = []
    for alternative in _split_top(inner):
        for rest in expand(tail):
            for option in expand(alternative):
                results.append(" ".join(f"{head} {option} {rest}".split()))
    return results


@dataclass
class Expectation:
    header: str
    designations: list[list[Term]]
    locus: str | None = None
    junctions_aa: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)

    @property
    def group(self) -> str:
        """BUG, TODO or 'neither': the three groups the suite reports separately.
        BUG-LOCUS alone (a system the reference tool gets wrong) is a BUG too, as the
        reference counts it: so the suite has 205 untagged cases, as shared/README.md says."""
        if any(tag.startswith("BUG") for tag in self.tags):
            return "BUG"
        if "TODO" in self.tags:
            return "TODO"
        return "neither"

    def matches(self, name: str, locus: str | None, junction_aa: str | None) -> bool:
        """Whether a designation (`V 1/AC/2 D 0//3 J`), its system and its junction
        fulfil the whole expectation."""
        if self.locus is not None and locus != self.locus:
            return False
        if self.junctions_aa and not any(j in (junction_aa or "") for j in self.junctions_aa):
            return False
        result = parse_terms(name)
        return any(_designation_matches(expected, result) for expected in self.designations)


def _genes_only_match(expected: list[Gene], result: list[Gene]) -> bool:
    """The first and last genes match, the expected middle genes (D) appear in order
    among the result's middle genes; other D genes of the result are tolerated."""
    if len(expected) < 2 or len(result) < 2:
        return len(expected) == len(result) and all(e.matches(r) for e, r in zip(expected, result, strict=True))
    if not (expected[0].matches(result[0]) and expected[-1].matches(result[-1])):
        return False
    middle = iter(result[1:-1])
    return all(any(e.matches(r) for r in middle) for e in expected[1:-1])


def _designation_matches(expected: list[Term], result: list[Term]) -> bool:
    expected_genes = [t for t in expected if isinstance(t, Gene)]
    result_genes = [t for t in result if isinstance(t, Gene)]
    if not any(isinstance(t, NRegion) for t in expected):
        # Without any N region, the expectation names genes only (e.g. a V and a J
        # known from a PCR): D genes it does not name are not part of it.
        return _genes_only_match(expected_genes, result_genes)
    if len(expected_genes) != len(result_genes):
        return False
    if not all(e.matches(r) for e, r in zip(expected_genes, result_genes, strict=True)):
        return False

    # N region expected after gene i (if written) against the one of the result.
    def regions(terms: list[Term]) -> dict[int, NRegion]:
        found, genes = {}, -1
        for term in terms:
            if isinstance(term, Gene):
                genes += 1
            else:
                found[genes] = term
        return found

    got = regions(result)
    return all(i in got and n.matches(got[i]) for i, n in regions(expected).items())


def parse_header(header: str) -> Expectation:
    text = header.split(" # ")[0].replace("_", " ").strip()
    locus_match = re.search(r"\[([^\]]+)\]", text)
    locus = locus_match.group(1) if locus_match else None
    text = re.sub(r"\[[^\]]+\]", " ", text)
    junctions = [j for j in re.findall(r"\{([^}]*)\}", text) if "/" not in j]
    text = re.sub(r"\{([^}]*/[^}]*)\}", r"(\1)", text)
    text = re.sub(r"\{[^}/]*\}", " ", text)
    text = re.sub(r"\(\s*(,\s*)*\)", " ", text)
    words = text.split()
    tags = {w for w in words if w in KEYWORDS}
    text = " ".join(w for w in words if w not in KEYWORDS)
    designations = [parse_terms(d) for d in expand(text)]
    return Expectation(header, designations, locus, junctions, tags)


def suite_records(folder: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(file name, header, sequence) of every read of the suite, and the files that
    could not be read. Two files of the suite only hold the relative path of a file
    elsewhere in the reference tree (`../../../demo/Demo-X5.fa`, `../data/trd-dd2-dd3.fa`):
    they are looked up by name beside the suite folder (`peer-tests/Demo-X5.fa`,
    `peer-tests/trd-dd2-dd3.fa`)."""
    records: list[tuple[str, str, str]] = []
    missing: list[str] = []
    for path in sorted(folder.glob("*.fa")):
        text = path.read_text().strip()
        if "\n" not in text and text.endswith(".fa") and not text.startswith(">"):
            target = folder.parent / Path(text).name
            if not target.exists():
                missing.append(f"{path.name} -> {text}")
                continue
            source = target
        else:
            source = path
        records.extend((path.name, header, seq) for header, seq in read_fasta(source))
    return records, missing
