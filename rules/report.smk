# One self-contained HTML report per set.


rule report:
    input:
        set_result("vidjil"),
    output:
        report(
            set_result("report"),
            category="Sample sets",
            subcategory="{analysis}",
            labels={"set": "{set}", "analysis": "{analysis}"},
        ),
    log:
        "logs/report/{analysis}/{set}.log",
    benchmark:
        "benchmarks/report/{analysis}/{set}.tsv"
    conda:
        "../envs/vidjil.yaml"
    threads: 1
    resources:
        mem_mb=rule_setting("report", "mem_mb"),
        runtime=rule_setting("report", "runtime"),
    params:
        title=lambda wildcards: f"{wildcards.set} ({wildcards.analysis})",
    shell:
        "vidjil report {input} -o {output} --title '{params.title}' > {log} 2>&1"
