# One self-contained HTML report per set.


rule report:
    input:
        vidjil=set_result("vidjil"),
        contamination=report_contamination,
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
        contamination=lambda wildcards, input: f"--contamination {input.contamination}" if input.contamination else "",
    shell:
        "vidjil report {input.vidjil} -o {output} --title '{params.title}' {params.contamination} > {log} 2>&1"
