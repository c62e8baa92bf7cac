# The samples of a set in one .vidjil file, clones followed over time.


rule fuse:
    input:
        set_sample_results,
    output:
        vidjil=f"{RESULTS}/{{analysis}}/sets/{{set}}/{{set}}.fused.vidjil",
        airr=f"{RESULTS}/{{analysis}}/sets/{{set}}/{{set}}.fused.airr.tsv",
        diversity=f"{RESULTS}/{{analysis}}/sets/{{set}}/{{set}}.diversity.tsv",
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
        spike=spike_options,
    shell:
        "vidjil fuse {input} -o {output.vidjil} --airr {output.airr} --diversity {output.diversity} "
        "--top {params.top} {params.spike} > {log} 2>&1"
