# The default germline set, built from the pinned GenAIRR package.


rule germline:
    output:
        manifest=layout.built_germline_manifest("{species}"),
    log:
        "logs/germline/{species}.log",
    benchmark:
        "benchmarks/germline/{species}.tsv"
    conda:
        "../envs/vidjil.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        out=lambda wildcards, output: Path(output.manifest).parent,
    shell:
        "rm -f {output.manifest} && vidjil germline build --species {wildcards.species} -o {params.out} > {log} 2>&1"
