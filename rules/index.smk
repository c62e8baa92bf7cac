# The run recorded in RESULTS/index.sqlite (a local rule: never on cluster nodes).


rule index:
    input:
        all_results(),
    output:
        index_output(),
    log:
        f"logs/index/{RUN_ID}.log",
    benchmark:
        f"benchmarks/index/{RUN_ID}.tsv"
    conda:
        "../envs/vidjil.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        results=lambda wildcards, output: Path(output[0]).parent.parent,
        run=RUN_ID,
        sheets=sheet_options(),
        info=run_info_options(),
    shell:
        "vidjil index add {params.results} --run {params.run} {params.sheets} {params.info} > {log} 2>&1 "
        "&& touch {output}"


# The Parquet dataset of the results folder (RESULTS/cohort), from the index just
# written (a local rule: partitions whose inputs did not change are not written).
rule cohort:
    input:
        index_output(),
    output:
        cohort_output(),
    log:
        f"logs/cohort/{RUN_ID}.log",
    benchmark:
        f"benchmarks/cohort/{RUN_ID}.tsv"
    conda:
        "../envs/vidjil.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        results=lambda wildcards, output: Path(output[0]).parent.parent,
    shell:
        "vidjil cohort {params.results} > {log} 2>&1 && touch {output}"
