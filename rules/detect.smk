# Detection, clones and designation of one sample under one analysis.


rule detect:
    wildcard_constraints:
        analysis=analyses_pattern(a for a in config["analyses"] if a not in CLONE_READS_ANALYSES),
    input:
        reads=sample_reads,
        germline=analysis_germline_input,
    output:
        vidjil=sample_result("vidjil"),
        airr=sample_result("airr"),
        stats=sample_result("stats"),
        parquet=sample_result("parquet"),
    log:
        "logs/detect/{analysis}/{sample}.log",
    benchmark:
        "benchmarks/detect/{analysis}/{sample}.tsv"
    conda:
        "../envs/vidjil.yaml"
    threads: rule_setting("detect", "threads")
    resources:
        mem_mb=rule_setting("detect", "mem_mb"),
        runtime=rule_setting("detect", "runtime"),
    params:
        reads=reads_arguments,
        options=detect_options,
        out=lambda wildcards, output: Path(output.vidjil).parent,
    shell:
        "vidjil detect {params.reads} -o {params.out} -b {wildcards.sample} -t {threads} {params.options} "
        "> {log} 2>&1"


# The same, for analyses that also write the reads of their top clones
# (`clone_reads` of the analysis's preset or of `detect:`).
use rule detect as detect_clone_reads with:
    wildcard_constraints:
        analysis=analyses_pattern(CLONE_READS_ANALYSES),
    output:
        vidjil=sample_result("vidjil"),
        airr=sample_result("airr"),
        stats=sample_result("stats"),
        parquet=sample_result("parquet"),
        clone_reads=sample_result("clone_reads"),
