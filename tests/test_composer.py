"""The algorithmic composer: ranges, coverage, form, harmony, determinism."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from synthdetect.corpora.composer import TEMPO_RANGE, compose

SEEDS = range(150)


@pytest.fixture(scope="module")
def songs():
    return [compose(seed) for seed in SEEDS]


def test_tempo_in_range(songs):
    tempos = [s.tempo for s in songs]
    assert all(TEMPO_RANGE[0] <= t <= TEMPO_RANGE[1] for t in tempos)
    assert max(tempos) - min(tempos) > 60  # actually spread over the range
    for s in songs:
        times, bpm = s.midi.get_tempo_changes()
        assert len(bpm) == 1 and bpm[0] == pytest.approx(s.tempo)  # constant tempo


def test_keys_cover_all_roots_and_both_modes(songs):
    assert {s.root for s in songs} == set(range(12))
    assert Counter(s.mode for s in songs).keys() == {"major", "minor"}


def test_form_has_three_to_five_sections_with_a_repeat(songs):
    for s in songs:
        assert 3 <= len(s.sections) <= 5, s.sections
        assert len(set(s.sections)) < len(s.sections), s.sections  # something repeats
        assert set(s.sections) <= {"intro", "verse", "chorus", "bridge", "outro"}
        assert "chorus" in s.sections
        starts = [p.start_bar for p in s.section_plan]
        assert starts == sorted(starts) and starts[0] == 0
    assert any("bridge" in s.sections for s in songs)
    assert any("intro" in s.sections for s in songs)
    assert any("outro" in s.sections for s in songs)


def test_instruments_include_drums_and_valid_programs(songs):
    for s in songs:
        insts = s.midi.instruments
        assert len(insts) >= 4
        drums = [i for i in insts if i.is_drum]
        assert len(drums) == 1 and drums[0].notes
        for inst in insts:
            assert 0 <= inst.program <= 127
            assert inst.notes, inst.name
            assert all(0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 for n in inst.notes)
        assert {"drums", "bass", "chords", "melody"} <= set(s.programs)
    melody_programs = {s.programs["melody"] for s in songs}
    assert len(melody_programs) > 10  # drawn from several families


def test_duration_within_requested_range(songs):
    for s in songs:
        assert 40.0 <= s.duration <= 100.0
        assert s.midi.get_end_time() <= s.duration + 1e-6
    short = [compose(seed, min_seconds=20, max_seconds=40) for seed in range(60)]
    assert all(s.duration <= 40 for s in short)
    assert any(s.tempo < 70 and len(s.sections) == 5 for s in short)  # the tightest case


def _bar_chord_pcs(song, bar_s):
    chords = next(i for i in song.midi.instruments if i.name == "chords")
    by_bar: dict[int, set[int]] = {}
    for n in chords.notes:
        by_bar.setdefault(int(n.start / bar_s + 1e-6), set()).add(n.pitch % 12)
    return by_bar


def test_melody_is_singable_and_on_chord_tones_at_strong_beats(songs):
    for s in songs[:60]:
        beat_s = 60.0 / s.tempo
        bar_s = 4 * beat_s
        melody = next(i for i in s.midi.instruments if i.name == "melody")
        pitches = [n.pitch for n in melody.notes]
        assert max(pitches) - min(pitches) <= 19  # an octave and a fifth at most
        steps = np.abs(np.diff(pitches))
        assert np.median(steps) <= 3  # mostly stepwise
        chord_pcs = _bar_chord_pcs(s, bar_s)
        for n in melody.notes:
            beat = n.start / beat_s
            in_bar = beat % 4
            if min(abs(in_bar - 0), abs(in_bar - 2), abs(in_bar - 4)) < 1e-6:
                bar = int(round(beat) // 4)
                assert n.pitch % 12 in chord_pcs[bar], (s.seed, bar, n)


def test_repeated_chorus_varies_slightly():
    varied = 0
    for seed in range(40):
        s = compose(seed)
        beat_s = 60.0 / s.tempo
        melody = next(i for i in s.midi.instruments if i.name == "melody")
        # the last section ends on a cadence of its own, so compare earlier choruses only
        choruses = [p for p in s.section_plan[:-1] if p.name == "chorus"]
        if len(choruses) < 2 or choruses[0].root != choruses[1].root:
            continue
        tunes = []
        for p in choruses[:2]:
            t0, t1 = 4 * p.start_bar * beat_s, 4 * (p.start_bar + p.bars) * beat_s
            notes = [n for n in melody.notes if t0 <= n.start < t1]
            tunes.append({(round((n.start - t0) / beat_s, 3), n.pitch) for n in notes})
        same = len(tunes[0] & tunes[1]) / len(tunes[0] | tunes[1])
        assert same > 0.3, (seed, same)  # recognisably the same chorus ...
        varied += tunes[0] != tunes[1]  # ... but not a copy
    assert varied >= 5


def test_same_seed_same_midi_different_seed_different():
    a, b, c = compose(7), compose(7), compose(8)
    assert a.midi_bytes() == b.midi_bytes()
    assert a.metadata() == b.metadata()
    assert a.midi_bytes() != c.midi_bytes()
    assert len({compose(seed).midi_bytes() for seed in range(20)}) == 20


def test_global_random_state_is_not_used():
    np.random.seed(1)
    random.seed(1)
    first = compose(3).midi_bytes()
    np.random.seed(2)
    random.seed(2)
    np.random.random(10)
    assert compose(3).midi_bytes() == first


def test_metadata_and_key_signatures():
    s = compose(11)
    meta = s.metadata()
    assert meta["n_sections"] == len(s.sections)
    assert meta["mode"] in ("major", "minor")
    assert "drums=0" in meta["programs"]
    assert s.midi.key_signature_changes[0].key_number == s.root + (12 if s.mode == "minor" else 0)
    assert s.midi.time_signature_changes[0].numerator == 4


def test_bad_lengths_rejected():
    with pytest.raises(ValueError, match="max_seconds"):
        compose(0, max_seconds=30)
    with pytest.raises(ValueError, match="min_seconds"):
        compose(0, min_seconds=90, max_seconds=60)
