"""The fan-ins (synthdetect.pipeline.gather): a variant's per-track files in manifest order,
only the tracks the variant covers, and a missing track's file named."""

import numpy as np
import pandas as pd
import pytest

from synthdetect.features.fakeprint import fakeprint_table, write_track_fakeprint
from synthdetect.pipeline.buckets import track_file
from synthdetect.pipeline.gather import Covered, fakeprint_features
from synthdetect.pipeline.stages import FAKEPRINT_SUFFIX

NAMES = ["fp_5000Hz", "fp_5011Hz", "fp_5022Hz"]
BUCKETS = 4


@pytest.fixture
def manifest(tmp_path):
    rows = pd.DataFrame(
        {
            "source": ["human", "ai", "human", "ai", "gen", "human"],
            "track": ["h2", "a1", "h1", "a2", "h2", "h3"],
            "split": ["test", "train", "train", "test", "test", "val"],
        }
    )
    path = tmp_path / "manifest.parquet"
    rows.to_parquet(path, index=False)
    return path, rows


def test_covered_keeps_manifest_order_and_filters_split_and_sources(manifest, tmp_path):
    path, rows = manifest
    every = Covered(path, tmp_path, BUCKETS, ["gen"])
    assert every.order().equals(rows[["source", "track"]])
    test = Covered(path, tmp_path, BUCKETS, ["gen"], split="test").order()
    assert list(zip(test.source, test.track, strict=True)) == [
        ("human", "h2"),
        ("ai", "a2"),
        ("gen", "h2"),
    ]
    control = Covered(path, tmp_path, BUCKETS, ["gen"], sources=["human", "ai"]).order()
    assert "gen" not in set(control.source) and len(control) == 5


def test_fakeprint_features_stacks_covered_tracks_in_order(manifest, tmp_path):
    path, rows = manifest
    root = tmp_path / "fakeprints"
    derived = {"gen"}
    for i, r in enumerate(rows.itertuples()):
        file = track_file(root, r.source, r.track, BUCKETS, FAKEPRINT_SUFFIX, r.source in derived)
        write_track_fakeprint(file, r.source, r.track, np.full(3, i, np.float32), NAMES)
    out = tmp_path / "fakeprint.parquet"
    log = tmp_path / "logs" / "fakeprint_features.log"
    n = fakeprint_features(Covered(path, root, BUCKETS, derived, split="test"), out, log=log)
    table = pd.read_parquet(out)
    assert n == 3
    assert list(zip(table.source, table.track, strict=True)) == [
        ("human", "h2"),
        ("ai", "a2"),
        ("gen", "h2"),
    ]
    # the derived source's h2 is its own track, not its parent's (rows 0 and 4)
    assert table[NAMES[0]].tolist() == [0.0, 3.0, 4.0]
    assert "3 tracks" in log.read_text()


def test_a_missing_track_file_is_named(manifest, tmp_path):
    path, _ = manifest
    with pytest.raises(FileNotFoundError, match="h2"):
        fakeprint_features(Covered(path, tmp_path / "none", BUCKETS, set()), tmp_path / "x")


def test_fakeprint_files_of_other_bins_are_named(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_track_fakeprint(a, "human", "h1", np.zeros(3, np.float32), NAMES)
    write_track_fakeprint(b, "human", "h2", np.zeros(2, np.float32), NAMES[:2])
    with pytest.raises(ValueError, match="b.parquet.*differ"):
        fakeprint_table([a, b])
    old = tmp_path / "old.parquet"
    pd.DataFrame({"source": ["human"], "track": ["h3"], NAMES[0]: [0.0]}).to_parquet(old)
    with pytest.raises(ValueError, match="old.parquet.*rerun the fakeprint stage"):
        fakeprint_table([a, old])
