# The samples of a set in one .vidjil file, clones followed over time.


rule fuse:
    input:
        set_sample_results,
    output:
        f"{RESULTS}/{{analysis}}/sets/{{set}}/{{set}}.fused.vidjil",
    log:
        "logs/fuse/{analysis}/{set}.log",
    benchmark:
        "benchmarks/fuse/{analysis}/{set}.tsv"
    conda:
        "../envs/vidjil.yaml"
    threads: 1
    resources:
        mem_mb=rule_setting("fuse", "mem_mb"),
        runtime=rule_setting("fuse", "runtime"),
    params:
        top=config["fuse"]["top"],
    shell:
        "vidjil fuse {input} -o {output} --top {params.top} > {log} 2>&1"
