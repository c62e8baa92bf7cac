# The samples of a set in one .vidjil file, clones followed over time.


rule fuse:
    input:
        set_sample_results,
    output:
        vidjil=set_result("vidjil"),
        airr=set_result("airr"),
        diversity=set_result("diversity"),
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
        options=fuse_options,
        sheet=fuse_sheet_options,
        sheet_values=set_sheet_values,
    shell:
        "vidjil fuse {input} -o {output.vidjil} --airr {output.airr} --diversity {output.diversity} "
        "{params.options} {params.sheet} > {log} 2>&1"
