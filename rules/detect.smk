# Detection, clones and designation of one sample under one analysis.


rule detect:
    input:
        reads=sample_reads,
        germline=analysis_germline_input,
    output:
        vidjil=sample_result("vidjil"),
        airr=sample_result("airr"),
        stats=sample_result("stats"),
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
