"""The parser of the curated should-vdj expectations, on every header of the suite
and on hand-made designations."""

from __future__ import annotations

from helpers import shared_path
from should_vdj import Gene, NRegion, parse_header, suite_records


def test_every_header_of_the_suite_parses() -> None:
    records, missing = suite_records(shared_path("peer-tests", "should-vdj"))
    groups: dict[str, int] = {}
    for _, header, sequence in records:
        expectation = parse_header(header)
        assert expectation.designations and all(expectation.designations), header
        assert sequence, header
        groups[expectation.group] = groups.get(expectation.group, 0) + 1
    # shared/README.md counts 301 reads, 205 untagged. Two files of the suite are paths to
    # files beside it (Demo-X5.fa, trd-dd2-dd3.fa): both are read.
    assert missing == []
    assert len(records) == 301
    assert groups == {"neither": 205, "TODO": 20, "BUG": 76}
    files = {name for name, _, _ in records}
    assert {"Demo-X5.should-vdj.fa", "trd-dd2-dd3.should-vdj.fa"} <= files


def test_simple_designation() -> None:
    e = parse_header("IGHV3-48*01 0/AA/6 IGHD5-12*01 2//7 IGHJ4*02  [IGH]  {CARENSGYD} # a comment")
    assert e.locus == "IGH" and e.junctions_aa == ["CARENSGYD"] and e.group == "neither"
    assert e.designations == [
        [Gene("IGHV3-48*01"), NRegion(0, "AA", 6), Gene("IGHD5-12*01"), NRegion(2, "", 7), Gene("IGHJ4*02")]
    ]
    name = "IGHV3-48*01 0/AA/6 IGHD5-12*01 2//7 IGHJ4*02"
    assert e.matches(name, "IGH", "CARENSGYDYW")
    assert not e.matches(name, "IGH", "CARDYW")  # junction
    assert not e.matches(name, "IGK", "CARENSGYDYW")  # locus
    assert not e.matches("IGHV3-48*02 0/AA/6 IGHD5-12*01 2//7 IGHJ4*02", "IGH", "CARENSGYD")  # allele
    assert not e.matches("IGHV3-48*01 0/AT/6 IGHD5-12*01 2//7 IGHJ4*02", "IGH", "CARENSGYD")  # insert
    assert not e.matches("IGHV3-48*01 0/AA/6 IGHJ4*02", "IGH", "CARENSGYD")  # missing D


def test_alternatives_lengths_any_allele_and_omitted_regions() -> None:
    e = parse_header("TRBV10-2*01 4/CC/3 TRBD2*01 (7//5,8//4) TRBJ1-2*01  [TRB]")
    assert len(e.designations) == 2
    assert e.matches("TRBV10-2*01 4/CC/3 TRBD2*01 8//4 TRBJ1-2*01", "TRB", None)
    assert not e.matches("TRBV10-2*01 4/CC/3 TRBD2*01 6//6 TRBJ1-2*01", "TRB", None)
    numbered = parse_header("TRBD2 8/10/2 TRBJ2-7*01  [TRB+]")
    assert numbered.matches("TRBD2*01 8/ACGTACGTAC/2 TRBJ2-7*01", "TRB+", None)
    assert not numbered.matches("TRBD2*01 8/ACGTACGTA/2 TRBJ2-7*01", "TRB+", None)
    omitted = parse_header("IGHV1-18 (IGHJ1, IGHJ2)")
    assert omitted.matches("IGHV1-18*01 3/GGA/1 IGHJ2*01", "IGH", None)
    slash = parse_header("TRAV29/DV5*01 3/CACCGAGA/3 TRDD2 1/0/3 TRDD3 0/0/2 TRDJ1  [TRD+] BUG BUG-LOCUS")
    assert slash.group == "BUG" and slash.tags == {"BUG", "BUG-LOCUS"}
    assert slash.matches("TRAV29*01 3/CACCGAGA/3 TRDD2*01 1//3 TRDD3*01 0//2 TRDJ1*01", "TRD+", None)
    assert parse_header("TRDV3*01_0//0_TRDD3*01  [TRD+] BUG-LOCUS").group == "BUG"
    braces = parse_header("IGKV2D-30*01 {6//4, 5//5, 4//6} IGKV3/OR2-268*02 [unexpected]")
    assert braces.junctions_aa == [] and len(braces.designations) == 3
    junctions = parse_header("IGHV3-48*01 0/AA/6 IGHJ4*02  [IGH]  ({CARENSGYD!DYW}, {CARENSGY!FDYW})")
    assert junctions.junctions_aa == ["CARENSGYD!DYW", "CARENSGY!FDYW"]
    assert junctions.matches("IGHV3-48*01 0/AA/6 IGHJ4*02", "IGH", "CARENSGY!FDYWG")


def test_underscores_separate_terms() -> None:
    e = parse_header("TRDD2*01_0//0_TRDD3*01  [TRD+]  TODO")
    assert e.designations == [[Gene("TRDD2*01"), NRegion(0, "", 0), Gene("TRDD3*01")]]
    assert e.locus == "TRD+" and e.group == "TODO"
    assert e.matches("TRDD2*01 0//0 TRDD3*01", "TRD+", None)


def test_an_expectation_without_n_regions_names_genes_only() -> None:
    e = parse_header("TRDV2 TRAJ29 [TRA+D]")
    assert e.matches("TRDV2*01 0/GGA/4 TRDD3*01 4//7 TRAJ29*01", "TRA+D", None)
    assert e.matches("TRDV2*02 3//1 TRAJ29*01", "TRA+D", None)
    assert not e.matches("TRDV1*01 3//1 TRAJ29*01", "TRA+D", None)
    assert not e.matches("TRDV2*01 3//1 TRAJ30*01", "TRA+D", None)
    with_d = parse_header("IGHV1-46*01 IGHD2-21*02 IGHJ5*02  [IGH]")
    assert with_d.matches("IGHV1-46*01 1/AC/2 IGHD2-21*02 0//3 IGHJ5*02", "IGH", None)
    assert not with_d.matches("IGHV1-46*01 1/AC/2 IGHD3-3*01 0//3 IGHJ5*02", "IGH", None)
    assert not with_d.matches("IGHV1-46*01 1/AC/3 IGHJ5*02", "IGH", None)
    # With N regions, the structure is exact: an extra D fails.
    exact = parse_header("IGHV3-48*01 0/AA/6 IGHJ4*02  [IGH]")
    assert not exact.matches("IGHV3-48*01 0/AA/6 IGHD1-1*01 0//2 IGHJ4*02", "IGH", None)


def test_a_designation_starting_with_an_n_region_leaves_its_5_prime_gene_open() -> None:
    e = parse_header("1/TGAG/5 IGHD2-15*01 1/AACG/5 IGHJ5*02  [IGH]")
    assert e.matches("IGHV3-13*01 1/TGAG/5 IGHD2-15*01 1/AACG/5 IGHJ5*02", "IGH", None)
    assert not e.matches("IGHV3-13*01 1/TGAG/5 IGHD2-15*01 1/AACG/4 IGHJ5*02", "IGH", None)
