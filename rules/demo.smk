# The embedded demo's reads (seeded: byte-identical on every run).


rule demo_reads:
    output:
        expand("resources/demo/reads/{sample}.fastq.gz", sample=DEMO_SAMPLES),
    log:
        "logs/demo_reads.log",
    benchmark:
        "benchmarks/demo_reads.tsv"
    conda:
        "../envs/vidjil.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        out=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "vidjil demo --followup-reads -o {params.out} > {log} 2>&1"
