"""A seeded, rule-based algorithmic composer in the spirit of AAM (Ostermann et al. 2023).

AAM ("Artificial Audio Multitracks") songs were made by a rule-based composer: a tempo,
a key, chord progressions of the major/minor system, a singable melody, a verse/chorus
form and a handful of General MIDI instruments, with later choices tied to earlier ones.
This module reproduces that recipe well enough to stand in for the "AI" class of the
offline demo corpus. It is not AAM's code; it follows the paper's description.

Every random choice comes from ``numpy.random.default_rng(seed)`` created inside
:func:`compose`, so the same seed gives the same :class:`Song` (and the same MIDI bytes)
in any process, whatever global random state is.

Rules, in the order they are drawn:

* tempo: integer BPM in [60, 180], constant for the whole song; metre 4/4;
* key: one of 12 roots, major or minor;
* palette ("acoustic", "band", "electronic", "orchestral") and from it the General MIDI
  programs of bass, chords and melody (mostly from the palette, sometimes from anywhere),
  plus an optional counter-melody instrument; drums on channel 10;
* form: 3-5 sections (verse, chorus, bridge, optional intro/outro); at least one section
  (chorus or verse) repeats; a repeat reuses the first occurrence's material with a slight
  variation (a varied motif, a drum fill, a little louder);
* section lengths in bars, fitted so that the song lasts between ``min_seconds`` and
  ``max_seconds``;
* per section: a progression of diatonic chords (a minor key may use the harmonic-minor
  dominant), a bridge may modulate to a related key, the song ends on a cadence to the
  tonic; chords voiced with smooth voice leading; a bass line and drum pattern per
  section; a melody built from 2-bar motifs (rhythm + scale steps) whose strong-beat
  notes are chord tones, moving mostly stepwise inside an octave and a fourth.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pretty_midi

__all__ = [
    "NOTE_NAMES",
    "TEMPO_RANGE",
    "Song",
    "compose",
]

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
TEMPO_RANGE = (60, 180)
MODES = ("major", "minor")
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

# Progressions as scale degrees (0 = tonic), one chord per bar.
_PROGRESSIONS = {
    "major": (
        (0, 4, 5, 3),  # I V vi IV
        (0, 5, 3, 4),  # I vi IV V
        (5, 3, 0, 4),  # vi IV I V
        (0, 3, 4, 3),  # I IV V IV
        (1, 4, 0, 0),  # ii V I I
        (0, 3, 5, 4),  # I IV vi V
        (3, 0, 4, 5),  # IV I V vi
        (0, 2, 3, 4),  # I iii IV V
        (0, 0, 3, 4),  # I I IV V
    ),
    "minor": (
        (0, 5, 2, 6),  # i VI III VII
        (0, 3, 4, 0),  # i iv v i
        (0, 6, 5, 4),  # i VII VI v
        (0, 3, 6, 2),  # i iv VII III
        (5, 6, 0, 0),  # VI VII i i
        (0, 5, 3, 4),  # i VI iv v
        (0, 6, 5, 6),  # i VII VI VII
        (3, 4, 0, 0),  # iv v i i
    ),
}

# Cores of the form; intro/outro are added around them while the total stays <= 5.
_FORMS = (
    ("verse", "chorus", "chorus"),
    ("chorus", "verse", "chorus"),
    ("verse", "chorus", "verse", "chorus"),
    ("verse", "chorus", "bridge", "chorus"),
    ("verse", "verse", "chorus", "bridge", "chorus"),
    ("verse", "chorus", "verse", "chorus", "bridge"),
    ("verse", "chorus", "bridge", "chorus", "chorus"),
)

# General MIDI programs (0-based) by role and palette.
_PALETTES = ("acoustic", "band", "electronic", "orchestral")
_PROGRAMS = {
    "bass": {
        "acoustic": (32, 33),
        "band": (33, 34, 35, 36),
        "electronic": (38, 39),
        "orchestral": (32, 43),
    },
    "chords": {
        "acoustic": (0, 1, 24, 25, 46),
        "band": (2, 4, 5, 16, 17, 27, 29),
        "electronic": (81, 88, 89, 90, 91, 94, 95),
        "orchestral": (0, 46, 48, 49, 50, 52),
    },
    "melody": {
        "acoustic": (22, 24, 40, 71, 73, 74, 79),
        "band": (26, 56, 64, 65, 66, 11, 30),
        "electronic": (80, 81, 82, 84, 85, 87),
        "orchestral": (40, 56, 60, 68, 71, 73),
    },
    "counter": {
        "acoustic": (8, 12, 46),
        "band": (11, 12, 4),
        "electronic": (10, 98, 99, 108),
        "orchestral": (9, 46, 45),
    },
}
# Chord programs that sound best held; the others are played as arpeggios or stabs.
_SUSTAINED = frozenset({16, 17, 19, 48, 49, 50, 52, 81, 88, 89, 90, 91, 94, 95})

# General MIDI percussion keys.
_KICK, _SNARE, _CLAP, _HAT, _OPEN_HAT, _CRASH, _RIDE = 36, 38, 39, 42, 46, 49, 51
_TOMS = (50, 48, 47, 45, 43)

# Drum grooves for one 4/4 bar: (beat, key, velocity).
_GROOVES: dict[str, tuple[tuple[float, int, int], ...]] = {
    "basic": ((0, _KICK, 100), (2, _KICK, 92), (1, _SNARE, 96), (3, _SNARE, 96))
    + tuple((i * 0.5, _HAT, 70 if i % 2 else 82) for i in range(8)),
    "four": tuple((b, _KICK, 100) for b in range(4))
    + ((1, _CLAP, 90), (3, _CLAP, 90))
    + tuple((b + 0.5, _OPEN_HAT, 72) for b in range(4)),
    "halftime": ((0, _KICK, 100), (2, _SNARE, 100), (3.5, _KICK, 80))
    + tuple((i * 0.5, _HAT, 66 if i % 2 else 78) for i in range(8)),
    "ride": ((0, _KICK, 96), (2.5, _KICK, 86), (1, _SNARE, 90), (3, _SNARE, 90))
    + tuple((float(b), _RIDE, 80) for b in range(4)),
    "busy": ((0, _KICK, 100), (1.5, _KICK, 84), (2, _KICK, 96), (1, _SNARE, 98), (3, _SNARE, 98))
    + tuple((i * 0.25, _HAT, 58 if i % 2 else 74) for i in range(16)),
    "sparse": ((0, _KICK, 90),) + tuple((float(b), _HAT, 66) for b in range(4)),
}
_BUSIER = {"sparse": "basic", "halftime": "basic", "basic": "busy", "ride": "busy"}

# Bass patterns for one bar: (beat, length, tone); tone: root/fifth/octave/approach.
_BASS_PATTERNS = (
    ((0, 4, "root"),),
    ((0, 2, "root"), (2, 2, "fifth")),
    tuple((i * 0.5, 0.5, "root") for i in range(8)),
    ((0, 1, "root"), (1, 1, "root"), (2, 1, "fifth"), (3, 1, "approach")),
    ((0, 1.5, "root"), (1.5, 0.5, "root"), (2, 1, "octave"), (3, 1, "fifth")),
    ((0, 0.5, "root"), (0.5, 0.5, "octave"), (1, 0.5, "root"), (1.5, 0.5, "octave"))
    + ((2, 0.5, "root"), (2.5, 0.5, "octave"), (3, 0.5, "fifth"), (3.5, 0.5, "approach")),
)

# One-bar melody rhythms (note lengths in beats; a negative length is a rest).
_RHYTHMS = (
    (1, 1, 1, 1),
    (2, 1, 1),
    (1, 1, 2),
    (1.5, 0.5, 1, 1),
    (1, 0.5, 0.5, 1, 1),
    (0.5, 0.5, 1, 1, 1),
    (1, 1, 1, 0.5, 0.5),
    (2, 2),
    (1.5, 0.5, 2),
    (-1, 1, 1, 1),
    (1, -0.5, 0.5, 2),
)
# Rhythms for the second bar of a phrase: they end on a long note or a rest.
_CADENCE_RHYTHMS = ((1, 1, 2), (2, 2), (3, 1), (4,), (2, 1, -1), (1.5, 0.5, 2), (1, 1, 1, -1))


@dataclass(frozen=True)
class Section:
    """One section of the form: its name, start bar, length and key."""

    name: str
    start_bar: int
    bars: int
    root: int
    mode: str
    repeat: int  # 0 for the first occurrence of this name, 1 for the second, ...


@dataclass
class Song:
    """A composed song: the MIDI and the choices that made it."""

    midi: pretty_midi.PrettyMIDI
    seed: int
    tempo: float
    root: int
    mode: str
    sections: tuple[str, ...]
    programs: dict[str, int]
    duration: float
    section_plan: tuple[Section, ...] = field(default=(), repr=False)
    palette: str = ""

    @property
    def key_name(self) -> str:
        return f"{NOTE_NAMES[self.root]} {self.mode}"

    @property
    def n_sections(self) -> int:
        return len(self.sections)

    def programs_str(self) -> str:
        """Programs as a compact string, e.g. ``"bass=33,chords=4,drums=0,melody=73"``."""
        return ",".join(f"{role}={prog}" for role, prog in sorted(self.programs.items()))

    def midi_bytes(self) -> bytes:
        """The song as a standard MIDI file."""
        buf = io.BytesIO()
        self.midi.write(buf)
        return buf.getvalue()

    def metadata(self) -> dict[str, object]:
        """Flat metadata for an index table."""
        return {
            "tempo": float(self.tempo),
            "root": NOTE_NAMES[self.root],
            "mode": self.mode,
            "n_sections": self.n_sections,
            "sections": "-".join(self.sections),
            "programs": self.programs_str(),
            "song_seconds": float(self.duration),
        }


# --------------------------------------------------------------------------------------
# Harmony helpers


def _scale_pcs(root: int, mode: str) -> list[int]:
    return [(root + step) % 12 for step in _SCALES[mode]]


def _triad(root: int, mode: str, degree: int, harmonic_dominant: bool) -> tuple[int, ...]:
    """Pitch classes (root, third, fifth) of the diatonic triad on ``degree``."""
    scale = _scale_pcs(root, mode)
    pcs = [scale[(degree + k) % 7] for k in (0, 2, 4)]
    if mode == "minor" and harmonic_dominant and degree == 4:
        pcs[1] = (pcs[1] + 1) % 12  # raised leading tone: major V
    return tuple(pcs)


def _voice(pcs: tuple[int, ...], previous: tuple[int, ...] | None) -> tuple[int, ...]:
    """A close voicing of ``pcs`` in [52, 79] that moves least from ``previous``."""
    candidates = []
    for inversion in range(3):
        order = pcs[inversion:] + pcs[:inversion]
        for base in range(52, 65):
            if base % 12 != order[0]:
                continue
            notes = [base]
            for pc in order[1:]:
                nxt = notes[-1] + 1
                while nxt % 12 != pc:
                    nxt += 1
                notes.append(nxt)
            candidates.append(tuple(notes))
    if previous is None:
        return min(candidates, key=lambda v: (abs(sum(v) / 3 - 62), v))
    return min(
        candidates, key=lambda v: (sum(abs(a - b) for a, b in zip(v, previous, strict=True)), v)
    )


def _bass_pitch(pc: int) -> int:
    return 36 + pc if pc <= 7 else 24 + pc  # E1..G2 region, 32..43


# --------------------------------------------------------------------------------------
# Melody: motifs are (rhythm, scale-step intervals); realisation snaps strong beats
# to chord tones.


@dataclass
class _Motif:
    rhythm: list[float]  # note lengths over 2 bars (8 beats); negative = rest
    steps: list[int]  # scale-step interval to each note from the previous one


def _new_motif(rng: np.random.Generator) -> _Motif:
    first = _RHYTHMS[rng.integers(len(_RHYTHMS))]
    second = _CADENCE_RHYTHMS[rng.integers(len(_CADENCE_RHYTHMS))]
    rhythm = [float(x) for x in first + second]
    steps = []
    direction = 1 if rng.random() < 0.5 else -1
    for i in range(len(rhythm)):
        if i == len(rhythm) // 2:
            direction = -direction  # arch contour
        r = rng.random()
        if r < 0.12:
            step = 0
        elif r < 0.72:
            step = direction
        elif r < 0.9:
            step = 2 * direction
        else:
            step = int(rng.choice((3, 4))) * int(rng.choice((-1, 1)))  # an occasional leap
        steps.append(step)
    return _Motif(rhythm, steps)


def _vary_motif(motif: _Motif, rng: np.random.Generator) -> _Motif:
    """A slight variation that rejoins the original line: one weak-beat note moved by a
    step, or one long note split into two (a neighbour or passing note)."""
    rhythm, steps = list(motif.rhythm), list(motif.steps)
    onsets = np.concatenate([[0.0], np.cumsum(np.abs(rhythm))[:-1]])
    last = max((i for i, d in enumerate(rhythm) if d > 0), default=0)  # a cadence: kept
    weak = [
        i
        for i, (d, t) in enumerate(zip(rhythm, onsets, strict=True))
        if d > 0 and t % 2 and i < last
    ]
    long_notes = [i for i, d in enumerate(rhythm) if d >= 2 and i < last]
    d = int(rng.choice((-1, 1)))
    if long_notes and (not weak or rng.random() < 0.5):
        i = int(rng.choice(long_notes))
        half = rhythm[i] / 2
        rhythm[i : i + 1] = [half, half]
        steps.insert(i + 1, d)
        if i + 2 < len(steps):
            steps[i + 2] -= d
        return _Motif(rhythm, steps)
    i = int(rng.choice(weak)) if weak else int(rng.integers(max(last, 1)))
    steps[i] += d
    if i + 1 < len(steps):
        steps[i + 1] -= d
    return _Motif(rhythm, steps)


def _realise(
    motif: _Motif,
    start_beat: float,
    chords: list[tuple[int, ...]],
    pitches: list[int],
    current: int,
    final_pcs: tuple[int, ...] | None,
) -> tuple[list[tuple[float, float, int]], int]:
    """Notes (beat, length, pitch) of a motif over two bars of ``chords``.

    ``pitches`` are the scale pitches of the melody range, ``current`` an index into it.
    Notes starting on beats 1 and 3 of a bar are moved to the nearest chord tone. The last
    note lands on ``final_pcs`` when given (a cadence). Returns the notes and the new index.
    """
    notes = []
    beat = 0.0
    n = len(motif.rhythm)
    sounding = [i for i, d in enumerate(motif.rhythm) if d > 0]
    last_sounding = sounding[-1] if sounding else -1
    for i, (length, step) in enumerate(zip(motif.rhythm, motif.steps, strict=True)):
        if length < 0:
            beat += -length
            continue
        idx = current + step
        while idx < 0 or idx >= len(pitches):  # reflect at the range edges
            idx = -idx if idx < 0 else 2 * (len(pitches) - 1) - idx
        bar = min(int(beat // 4), len(chords) - 1)
        in_bar = beat - 4 * int(beat // 4)
        target = None
        if i == last_sounding and final_pcs is not None:
            target = final_pcs
        elif in_bar in (0.0, 2.0):
            target = chords[bar]
        if target is not None:
            tones = [j for j, p in enumerate(pitches) if p % 12 in target]
            idx = min(tones, key=lambda j: (abs(j - idx), j))
        notes.append((start_beat + beat, length, pitches[idx]))
        current = idx
        beat += length
    assert beat == 8.0 or n == 0, beat
    return notes, current


# --------------------------------------------------------------------------------------
# Composition


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _choose_programs(rng: np.random.Generator) -> tuple[str, dict[str, int]]:
    palette = _pick(rng, _PALETTES)
    programs = {"drums": 0}
    for role in ("bass", "chords", "melody"):
        family = palette if rng.random() < 0.8 else _pick(rng, _PALETTES)
        programs[role] = int(_pick(rng, _PROGRAMS[role][family]))
    if rng.random() < 0.45:
        programs["counter"] = int(_pick(rng, _PROGRAMS["counter"][palette]))
    return palette, programs


def _choose_form(rng: np.random.Generator) -> list[str]:
    form = list(_pick(rng, _FORMS))
    has_intro = len(form) < 5 and rng.random() < 0.45
    if has_intro:
        form.insert(0, "intro")
    # memoization: an intro makes an outro more likely (a framed song)
    if len(form) < 5 and rng.random() < (0.6 if has_intro else 0.3):
        form.append("outro")
    return form


def _fit_lengths(
    rng: np.random.Generator, form: list[str], bar_s: float, min_s: float, max_s: float
) -> list[int]:
    """Bars per section so that the song lasts within [min_s, max_s] where possible."""

    def lengths(main: int) -> list[int]:
        return [max(2, min(4, main // 2)) if n in ("intro", "outro") else main for n in form]

    preferred = [m for m in (4, 8, 12, 16) if min_s <= sum(lengths(m)) * bar_s <= max_s]
    if preferred:
        weights = np.array([3.0 if m == 8 else 1.0 for m in preferred])
        return lengths(int(rng.choice(preferred, p=weights / weights.sum())))
    fits = [m for m in range(2, 65, 2) if min_s <= sum(lengths(m)) * bar_s <= max_s]
    if fits:
        return lengths(int(_pick(rng, fits)))
    short_enough = [m for m in range(2, 65, 2) if sum(lengths(m)) * bar_s <= max_s]
    return lengths(max(short_enough) if short_enough else 2)


def _related_key(rng: np.random.Generator, root: int, mode: str) -> tuple[int, str]:
    if mode == "major":
        options = (
            ((root + 9) % 12, "minor"),
            ((root + 7) % 12, "major"),
            ((root + 5) % 12, "major"),
        )
    else:
        options = (
            ((root + 3) % 12, "major"),
            ((root + 5) % 12, "minor"),
            ((root + 7) % 12, "minor"),
        )
    return _pick(rng, options)


def compose(seed: int, *, min_seconds: float = 40.0, max_seconds: float = 100.0) -> Song:
    """Compose one song from ``seed``.

    The song lasts between ``min_seconds`` and ``max_seconds`` whenever the drawn tempo's
    bar grid allows it, and never longer than ``max_seconds``, which must be >= 40 (five
    sections of two bars at 60 BPM). Same seed, same song.
    """
    if max_seconds < 40:
        raise ValueError(f"max_seconds must be >= 40, got {max_seconds}")
    if min_seconds > max_seconds:
        raise ValueError(f"min_seconds ({min_seconds}) > max_seconds ({max_seconds})")
    rng = np.random.default_rng(seed)

    tempo = float(rng.integers(TEMPO_RANGE[0], TEMPO_RANGE[1] + 1))
    root = int(rng.integers(12))
    mode = MODES[int(rng.integers(2))]
    beat_s = 60.0 / tempo
    bar_s = 4 * beat_s
    palette, programs = _choose_programs(rng)
    harmonic_dominant = rng.random() < 0.6  # minor keys: V instead of v, for the whole song

    form = _choose_form(rng)
    lengths = _fit_lengths(rng, form, bar_s, min_seconds, max_seconds)

    # Keys per section: a bridge may modulate to a related key; a last chorus may move up.
    plan: list[Section] = []
    start = 0
    counts: dict[str, int] = {}
    modulate_bridge = rng.random() < 0.5
    lift_last_chorus = rng.random() < 0.15
    last_chorus = max((i for i, n in enumerate(form) if n == "chorus"), default=-1)
    for i, (name, bars) in enumerate(zip(form, lengths, strict=True)):
        key_root, key_mode = root, mode
        if name == "bridge" and modulate_bridge and i < len(form) - 1:  # end at home
            key_root, key_mode = _related_key(rng, root, mode)
        if i == last_chorus and counts.get("chorus", 0) >= 1 and lift_last_chorus:
            key_root = (root + int(rng.choice((1, 2)))) % 12
        plan.append(Section(name, start, bars, key_root, key_mode, counts.get(name, 0)))
        counts[name] = counts.get(name, 0) + 1
        start += bars
    total_bars = start

    # Material per section name, drawn at first use and reused (with variation) later.
    progressions: dict[str, tuple[int, ...]] = {}
    chorus_prog = _pick(rng, _PROGRESSIONS[mode])
    progressions["chorus"] = chorus_prog
    # memoization: the verse often shares the chorus progression
    progressions["verse"] = chorus_prog if rng.random() < 0.3 else _pick(rng, _PROGRESSIONS[mode])
    progressions["intro"] = chorus_prog if rng.random() < 0.6 else progressions["verse"]
    progressions["outro"] = chorus_prog
    chord_style = (
        _pick(rng, ("sustain", "halves"))
        if programs["chords"] in _SUSTAINED
        else _pick(rng, ("arpeggio", "stabs", "halves"))
    )
    verse_groove = _pick(rng, ("basic", "halftime", "ride", "sparse", "four"))
    chorus_groove = _BUSIER.get(verse_groove, verse_groove) if rng.random() < 0.6 else verse_groove
    grooves = {
        "intro": _pick(rng, ("none", "sparse")),
        "verse": verse_groove,
        "chorus": chorus_groove,
        "bridge": _pick(rng, ("halftime", "ride", "sparse")),
        "outro": _pick(rng, ("halftime", "sparse")),
    }
    verse_bass = int(rng.integers(len(_BASS_PATTERNS)))
    bass_patterns = {
        "intro": 0,
        "verse": verse_bass,
        "chorus": verse_bass if rng.random() < 0.5 else int(rng.integers(len(_BASS_PATTERNS))),
        "bridge": int(rng.integers(len(_BASS_PATTERNS))),
        "outro": 0,
    }
    motifs: dict[str, list[_Motif]] = {}
    phrase_starts: dict[str, list[int]] = {}

    melody_notes: list[tuple[float, float, int, int]] = []  # beat, length, pitch, velocity
    chord_notes: list[tuple[float, float, int, int]] = []
    bass_notes: list[tuple[float, float, int, int]] = []
    counter_notes: list[tuple[float, float, int, int]] = []
    drum_hits: list[tuple[float, int, int]] = []
    key_changes: list[tuple[float, int, str]] = []
    voicing: tuple[int, ...] | None = None
    melody_index: int | None = None

    for s_i, sec in enumerate(plan):
        is_last = s_i == len(plan) - 1
        start_beat = 4.0 * sec.start_bar
        if not key_changes or key_changes[-1][1:] != (sec.root, sec.mode):
            key_changes.append((start_beat, sec.root, sec.mode))
        louder = 6 * sec.repeat

        # --- harmony: one chord per bar; the bridge gets its own progression
        if sec.name == "bridge" and "bridge" not in progressions:
            options = [p for p in _PROGRESSIONS[sec.mode] if p != chorus_prog]
            progressions["bridge"] = _pick(rng, options)
        prog = progressions[sec.name]
        degrees = [prog[b % len(prog)] for b in range(sec.bars)]
        if is_last:
            degrees[-1] = 0
            if sec.bars >= 2:
                degrees[-2] = 4  # perfect cadence V-I
        elif plan[s_i + 1].name == "chorus" and sec.bars >= 2 and sec.name != "chorus":
            degrees[-1] = 4  # half cadence leading into the chorus
        chords = [_triad(sec.root, sec.mode, d, harmonic_dominant) for d in degrees]

        # --- chords
        for b, pcs in enumerate(chords):
            voicing = _voice(pcs, voicing)
            bar_beat = start_beat + 4 * b
            vel = int(62 + louder + rng.integers(-4, 5))
            if (is_last and b == sec.bars - 1) or chord_style == "sustain":
                chord_notes += [(bar_beat, 4.0, p, vel) for p in voicing]
            elif chord_style == "halves":
                chord_notes += [(bar_beat + h, 2.0, p, vel) for h in (0, 2) for p in voicing]
            elif chord_style == "stabs":
                for beat in (0.0, 1.0, 1.5, 2.5, 3.0):
                    chord_notes += [(bar_beat + beat, 0.5, p, vel - 4) for p in voicing]
            else:  # arpeggio in eighths over the voicing and its octave
                cycle = [*voicing, voicing[0] + 12, voicing[2], voicing[1]]
                for k in range(8):
                    chord_notes.append((bar_beat + 0.5 * k, 0.5, cycle[k % len(cycle)], vel))

        # --- bass
        pattern = _BASS_PATTERNS[bass_patterns[sec.name]]
        for b, pcs in enumerate(chords):
            bar_beat = start_beat + 4 * b
            if is_last and b == sec.bars - 1:
                bass_notes.append((bar_beat, 4.0, _bass_pitch(pcs[0]), 96))
                continue
            nxt = chords[b + 1] if b + 1 < len(chords) else chords[0]
            for beat, length, tone in pattern:
                base = _bass_pitch(pcs[0])
                if tone == "fifth":
                    pitch = base + (pcs[2] - pcs[0]) % 12
                elif tone == "octave":
                    pitch = base + 12
                elif tone == "approach":
                    pitch = _bass_pitch(nxt[0]) + int(rng.choice((-1, 1, 2)))
                else:
                    pitch = base
                vel = int(88 + louder + rng.integers(-6, 7))
                bass_notes.append((bar_beat + beat, float(length), pitch, vel))

        # --- drums
        groove = grooves[sec.name]
        for b in range(sec.bars):
            bar_beat = start_beat + 4 * b
            last_bar = b == sec.bars - 1
            if is_last and last_bar:
                drum_hits += [(bar_beat, _CRASH, 100), (bar_beat, _KICK, 100)]
                continue
            if groove == "none":
                continue
            fill = last_bar and not is_last and rng.random() < (0.4 + 0.4 * (sec.repeat > 0))
            for beat, key, vel in _GROOVES[groove]:
                if fill and beat >= 2:
                    continue
                drum_hits.append((bar_beat + beat, key, int(vel + louder + rng.integers(-8, 9))))
            if fill:
                for k in range(8):
                    key = _SNARE if k < 2 else _TOMS[min((k - 2) // 2 + 1, len(_TOMS) - 1)]
                    drum_hits.append((bar_beat + 2 + 0.25 * k, key, int(84 + 3 * k)))
            if b == 0 and sec.name == "chorus":
                drum_hits.append((bar_beat, _CRASH, 96))

        # --- melody (not in intro; the outro gets one fading phrase)
        if sec.name != "intro":
            pitches = _melody_pitches(root, sec.root, sec.mode)
            if melody_index is None:
                melody_index = next(j for j, p in enumerate(pitches) if p % 12 == sec.root)
            melody_index = min(melody_index, len(pitches) - 1)
            n_phrases = sec.bars // 2 if sec.name != "outro" else 1
            if sec.name not in motifs:
                a, b = _new_motif(rng), _new_motif(rng)
                # phrase plan A A' B A'' (repeated to fill the section)
                plan_motifs = []
                for k in range(n_phrases):
                    if k % 4 == 2:
                        plan_motifs.append(b)
                    elif k == 0:
                        plan_motifs.append(a)
                    else:
                        plan_motifs.append(_vary_motif(a, rng) if rng.random() < 0.5 else a)
                motifs[sec.name] = plan_motifs
            base = motifs[sec.name]
            phrase_motifs = [base[k % len(base)] for k in range(n_phrases)]
            if sec.repeat > 0 and phrase_motifs:  # a repeat varies slightly
                k = int(rng.integers(len(phrase_motifs)))
                phrase_motifs[k] = _vary_motif(phrase_motifs[k], rng)
            # a repeat starts each phrase where the first occurrence did
            starts = phrase_starts.setdefault(sec.name, [])
            for k, motif in enumerate(phrase_motifs):
                bar0 = 2 * k
                if k < len(starts):
                    melody_index = min(starts[k], len(pitches) - 1)
                else:
                    starts.append(melody_index)
                pair = chords[bar0 : bar0 + 2] or chords[-1:]
                final = None
                if k == n_phrases - 1:
                    covers_end = bar0 + 2 >= sec.bars
                    final = (sec.root,) if (is_last and covers_end) else pair[-1]
                notes, melody_index = _realise(
                    motif, start_beat + 4 * bar0, pair, pitches, melody_index, final
                )
                vel_base = 90 + louder - (20 if sec.name == "outro" else 0)
                for beat, length, pitch in notes:
                    melody_notes.append((beat, length, pitch, int(vel_base + rng.integers(-6, 7))))

        # --- counter-melody: broken chord tones an octave up, in choruses and bridges
        if "counter" in programs and sec.name in ("chorus", "bridge"):
            for b, pcs in enumerate(chords):
                if is_last and b == sec.bars - 1:
                    break
                bar_beat = start_beat + 4 * b
                tones = sorted(72 + (pc - 72) % 12 for pc in pcs)
                for k, beat in enumerate((0.0, 1.0, 2.0, 3.0)):
                    counter_notes.append((bar_beat + beat, 1.0, tones[k % 3], 64 + louder))

    duration = total_bars * bar_s
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    for beat, key_root, key_mode in key_changes:
        number = key_root + (12 if key_mode == "minor" else 0)
        midi.key_signature_changes.append(pretty_midi.KeySignature(number, beat * beat_s))

    def instrument(role: str, notes, legato: float) -> pretty_midi.Instrument:
        inst = pretty_midi.Instrument(program=programs[role], name=role)
        for beat, length, pitch, vel in sorted(notes):
            start_s = beat * beat_s
            end_s = min(start_s + max(length * legato, 0.05) * beat_s, duration)
            vel = int(np.clip(vel, 1, 127))
            inst.notes.append(pretty_midi.Note(vel, int(pitch), start_s, end_s))
        return inst

    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    for beat, key, vel in sorted(drum_hits):
        start_s = beat * beat_s
        end_s = min(start_s + 0.1, duration)
        drums.notes.append(pretty_midi.Note(int(np.clip(vel, 1, 127)), key, start_s, end_s))
    midi.instruments.append(drums)
    midi.instruments.append(instrument("bass", bass_notes, 0.9))
    midi.instruments.append(instrument("chords", chord_notes, 0.95))
    midi.instruments.append(instrument("melody", melody_notes, 0.9))
    if "counter" in programs:
        midi.instruments.append(instrument("counter", counter_notes, 0.8))

    return Song(
        midi=midi,
        seed=int(seed),
        tempo=tempo,
        root=root,
        mode=mode,
        sections=tuple(form),
        programs=programs,
        duration=duration,
        section_plan=tuple(plan),
        palette=palette,
    )


def _melody_pitches(home_root: int, root: int, mode: str) -> list[int]:
    """Pitches of the scale of (root, mode) in a singable range set by the home key:
    a fourth below the home tonic to an octave above it (17 semitones)."""
    tonic = 60 + home_root
    lo, hi = tonic - 5, tonic + 12
    pcs = set(_scale_pcs(root, mode))
    return [p for p in range(lo, hi + 1) if p % 12 in pcs]
