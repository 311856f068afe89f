from snakemake.utils import min_version

min_version("9.0")


# A --configfile on the command line replaces the paper config instead of merging into
# it (merging would keep the paper's FMA/AAM sources next to the demo's).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/sources.smk"
include: "workflow/rules/tracks.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        table1=f"{RESULTS}/report/table1.csv",
        figures=f"{RESULTS}/figures/histogram_differences.json",
