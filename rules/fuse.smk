# The samples of a set in one .vidjil file, clones followed over time, and its MRD
# tables (markers, MRD values with their limits, follow-up alerts).


rule fuse:
    input:
        set_sample_results,
    output:
        vidjil=set_result("vidjil"),
        airr=set_result("airr"),
        diversity=set_result("diversity"),
        mrd=set_result("mrd"),
        markers=set_result("markers"),
        alerts=set_result("alerts"),
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
        "--mrd-tsv {output.mrd} --markers-tsv {output.markers} --alerts-tsv {output.alerts} "
        "{params.options} {params.sheet} > {log} 2>&1"


# A sequencing run's clones found in samples of other patients (this run, and
# earlier runs through the index).
rule contamination:
    input:
        set_sample_results,
    output:
        set_result("contamination"),
    log:
        "logs/contamination/{analysis}/{set}.log",
    benchmark:
        "benchmarks/contamination/{analysis}/{set}.tsv"
    conda:
        "../envs/vidjil.yaml"
    threads: 1
    resources:
        mem_mb=rule_setting("contamination", "mem_mb"),
        runtime=rule_setting("contamination", "runtime"),
    params:
        options=contamination_options,
        sheet_values=set_sheet_values,
    shell:
        "vidjil contamination {input} -o {output} {params.options} > {log} 2>&1"
