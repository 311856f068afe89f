"""Table 1 and the figures, collected for `snakemake --report`."""


rule table1:
    input:
        metrics=expand(f"{RESULTS}/metrics/{{model}}.json", model=MODELS),
        analysis=f"{RESULTS}/figures/histogram_differences.json",
    output:
        csv=report(
            f"{RESULTS}/report/table1.csv",
            caption="../report/table1.rst",
            category="Table 1",
        ),
        md=f"{RESULTS}/report/table1.md",
    log:
        f"{RESULTS}/logs/table1.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        models=MODELS,
        code=code("report"),
    script:
        "../scripts/table1.py"
