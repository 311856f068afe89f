"""bench/preprocess.py times what the workflow runs, and prints its summary line."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACKS_SMK = ROOT / "workflow" / "rules" / "tracks.smk"
BENCH = ROOT / "bench" / "preprocess.py"

#: rule in tracks.smk -> the batch function its run: block calls, and the per-track
#: stage function (what the bench times) that one calls for each track of the bucket
STAGE_OF_RULE = {
    "clip": ("clip_bucket", "clip_track"),
    "spectrogram": ("spectrogram_bucket", "spectrogram_track"),
    "histograms": ("histogram_bucket", "histogram_track"),
}

LAST_LINE = re.compile(
    r"^floor_ratio=(\d+\.\d+) speedup_vs_reference=(\d+\.\d+) ms_per_track=(\d+\.\d+)$"
)


def run_blocks(text: str) -> dict[str, str]:
    """The body of each rule's ``run:`` block in a .smk file, dedented to Python."""
    blocks, rule, body, in_run = {}, None, [], False
    for line in [*text.splitlines(), "rule __end__:"]:
        m = re.match(r"^rule (\w+):", line)
        if m:
            if rule and body:
                indent = min(len(x) - len(x.lstrip()) for x in body if x.strip())
                blocks[rule] = "\n".join(x[indent:] for x in body)
            rule, body, in_run = m.group(1), [], False
            continue
        if re.match(r"^    run:\s*$", line):
            in_run = True
        elif in_run and re.match(r"^    \S", line):  # next directive of the rule
            in_run = False
        elif in_run:
            body.append(line)
    return blocks


def _calls(tree) -> list[str]:
    return [
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]


def test_tracks_smk_run_blocks_call_the_stage_functions():
    import inspect

    from synthdetect.pipeline import stages

    blocks = run_blocks(TRACKS_SMK.read_text())
    for rule, (batch_fn, track_fn) in STAGE_OF_RULE.items():
        tree = ast.parse(blocks[rule])
        imports = {
            (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert ("synthdetect.pipeline.stages", batch_fn) in imports, (rule, imports)
        assert {m for m, _ in imports} <= {"synthdetect.pipeline.stages", "synthdetect.logs"}
        assert batch_fn in _calls(tree), rule
        batch_tree = ast.parse(inspect.getsource(getattr(stages, batch_fn)))
        assert track_fn in _calls(batch_tree), (batch_fn, track_fn)


_IDENTITY = r"""
import importlib.util, json, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("bench_preprocess", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
import synthdetect.pipeline.stages as stages
names = ("clip_track", "spectrogram_track", "histogram_track")
same = [getattr(bench, n) is getattr(stages, n) for n in names]
same.append(bench.STAGES == tuple(getattr(stages, n) for n in names))
called = []
for n in names:  # record what bench.ours calls, without running the stages
    setattr(bench, n, lambda *a, _n=n, **k: called.append(_n))
bench.ours("x.mp3", 1.0, Path("/nonexistent"), "t", bench.workflow_params())
print(json.dumps({"same": same, "called": called}))
"""


def test_bench_times_the_same_functions_as_the_workflow():
    out = subprocess.run(
        [sys.executable, "-c", _IDENTITY, str(BENCH)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(result["same"])
    assert result["called"] == ["clip_track", "spectrogram_track", "histogram_track"]


def test_bench_runs_small_and_prints_its_summary_last(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--n",
            "3",
            "--n-reference",
            "1",
            "--unique",
            "1",
            "--track-seconds",
            "31",
            "--breakdown",
            "1",
            "--jobs",
            "1",
            "--tmp",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    m = LAST_LINE.match(lines[-1])
    assert m, lines[-1]
    floor_ratio, speedup, ms = map(float, m.groups())
    assert floor_ratio > 1.0 and speedup > 1.0 and ms > 0
    assert any("peak RSS" in line for line in lines)
    assert not list(tmp_path.iterdir())  # its temporary directory is gone
