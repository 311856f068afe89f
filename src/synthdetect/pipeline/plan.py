"""The experiment's variants, planned from the config: which results folders exist and what
each one runs.

Table 1 is the variant ``table1`` in ``{results}``. Every other variant runs the same rules
under its own folder:

- a **control** (``{results}/controls/<name>``) changes every clip before any feature is
  taken and retrains the models;
- a **robustness** manipulation (``{results}/robustness/<name>``) changes the test clips
  only and scores the models trained for Table 1;
- a **cross-source** setting (``{results}/cross/<name>``) retrains on the train split of
  some sources and tests on the test split of others, reusing Table 1's features. The
  generator study is made of cross-source settings too: one per (train generator, test
  generator) pair, ``{results}/cross/gen_<a>__<b>``, and one per held-out generator,
  ``{results}/cross/loo_<b>`` (trained on every other generator).

Cross-source settings that train on the same sources share one training: the one that
tests on its train sources (else the first) trains, the others score its models
(``Variant.trained``). A study of ``n`` generators so trains ``2n`` times, not ``n² + n``.

Derived sources (a human source's tracks re-generated, :mod:`synthdetect.data.derived`)
are for the generator study and the cross-source settings that name them: Table 1 trains
and tests on the other sources only, and a control neither makes their clips nor trains
on them, so the paper's setup stays what it is when a config adds generators.

The rules files only turn these into paths. Planning is cheap and imports nothing heavy:
it runs every time Snakemake parses the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = ["TYPES", "Variant", "autoencoder_sources", "plan_variants"]

#: The variant types, in the order their folders are planned.
TYPES = ("table1", "control", "robustness", "cross")


@dataclass(frozen=True)
class Variant:
    """One variant: its results folder, type, name and what it trains and scores."""

    folder: str
    type: str
    name: str
    models: tuple[str, ...]
    #: the only split its per-track stages cover (robustness: the test split); None: all
    split: str | None = None
    #: a control's settings (``type``: codec_match or lowpass, and its parameters)
    control: Mapping | None = None
    #: a manipulation's settings (``kind`` and its parameters)
    manipulation: Mapping | None = None
    #: a cross-source setting's train and test sources; None: every source
    train: tuple[str, ...] | None = None
    test: tuple[str, ...] | None = None
    #: where its feature tables and image caches are (a cross-source setting reuses Table 1's)
    data: str = field(default="")
    #: the sources whose tracks its per-track stages and feature tables cover; None: all
    sources: tuple[str, ...] | None = None
    #: the generator study a cross-source setting belongs to: "matrix" or "loo"; None: none
    study: str | None = None
    #: its AI sources on the train and the test side (the generator study's row and column)
    train_generators: tuple[str, ...] = ()
    test_generators: tuple[str, ...] = ()
    #: the folder whose trained models it scores: its own, Table 1's (robustness), or
    #: another cross-source setting's with the same train sources; "": its own
    trained: str = ""

    @property
    def models_from(self) -> str:
        """The folder holding the models this variant scores."""
        return self.trained or self.folder

    @property
    def retrains(self) -> bool:
        """Whether it trains its own models (not a robustness manipulation, nor a
        cross-source setting that scores another's)."""
        return not self.trained


def _check_sides(setting: Mapping, sources: Mapping[str, Mapping]) -> None:
    """Each side of a cross-source setting names known sources of both labels."""
    for side in ("train", "test"):
        unknown = sorted(set(setting[side]) - set(sources))
        if unknown:
            raise ValueError(
                f"config cross_source {setting['name']}: {side} source(s) {unknown} "
                f"are not in sources ({', '.join(sorted(sources))})"
            )
        labels = {sources[s]["label"] for s in setting[side]}
        if labels != {"human", "ai"}:
            raise ValueError(
                f"config cross_source {setting['name']}: the {side} sources "
                f"{list(setting[side])} hold only {sorted(labels)} tracks; each side needs "
                "a human and an AI source"
            )


def plan_variants(config: Mapping) -> dict[str, Variant]:
    """Every variant of a validated config (schema defaults filled in), by folder.

    Raises ``ValueError`` naming the config key of a bad entry: a
    cross-source setting whose sources are unknown or hold one label only, a duplicate
    cross-source name, or a manipulation the catalogue rejects. Model names are checked by
    the config schema (its enum is the model registry's).
    """
    results = config["results"]
    enabled = tuple(config["models"]["enabled"])
    # imported here: the registry of kinds is light (no network code runs at import)
    from synthdetect.data.kinds import derived_sources

    derived = set(derived_sources(config["sources"]))
    # without derived sources these stay None, so the paper's jobs keep their params
    base = tuple(sorted(set(config["sources"]) - derived)) if derived else None
    variants = {
        results: Variant(results, "table1", "table1", enabled, train=base, test=base, data=results)
    }

    def add(v: Variant) -> None:
        variants[v.folder] = v

    controls = config["controls"]
    control_models = tuple(controls["models"] or enabled)
    if controls["codec_match"]:
        folder = f"{results}/controls/codec_match"
        add(
            Variant(
                folder,
                "control",
                "codec_match",
                control_models,
                control={"type": "codec_match"},
                sources=base,
                data=folder,
            )
        )
    if controls["lowpass_hz"]:
        folder = f"{results}/controls/lowpass"
        add(
            Variant(
                folder,
                "control",
                "lowpass",
                control_models,
                control={"type": "lowpass", "hz": controls["lowpass_hz"]},
                sources=base,
                data=folder,
            )
        )

    robustness = config["robustness"]
    if robustness["enabled"]:
        # imported only here: the catalogue pulls in scipy.signal and the codecs
        from synthdetect.audio.manipulations import DEFAULT_MANIPULATIONS, parse_manipulations

        specs = robustness["manipulations"] or DEFAULT_MANIPULATIONS | {
            f"neural_{s}": {"kind": "neural", "source": s} for s in autoencoder_sources(config)
        }
        for name, m in parse_manipulations(specs).items():  # a bad entry fails here
            if m.kind == "neural" and m.params["source"] not in autoencoder_sources(config):
                raise ValueError(
                    f"config robustness.manipulations.{name}.source: "
                    f"{m.params['source']!r} is not a derived source with generator: "
                    "autoencoder; name one (its trained autoencoder is the round trip)"
                )
        models = tuple(robustness["models"] or enabled)
        for name, spec in specs.items():
            folder = f"{results}/robustness/{name}"
            add(
                Variant(
                    folder,
                    "robustness",
                    name,
                    models,
                    split="test",
                    manipulation=dict(spec),
                    sources=base,  # Table 1's models score Table 1's test tracks only
                    data=folder,
                    trained=results,
                )
            )

    seen = set()
    for setting in config["cross_source"]:
        if setting["name"] in seen:
            raise ValueError(f"config cross_source: the name {setting['name']!r} is used twice")
        seen.add(setting["name"])
        _check_sides(setting, config["sources"])
        models = tuple(setting.get("models") or enabled)
        folder = f"{results}/cross/{setting['name']}"
        add(
            Variant(
                folder,
                "cross",
                setting["name"],
                models,
                train=tuple(setting["train"]),
                test=tuple(setting["test"]),
                data=results,
            )
        )

    for v in _generator_study(config, enabled):
        if v.name in seen:
            raise ValueError(f"config cross_source: the name {v.name!r} is the generator study's")
        add(v)
    return _share_training(variants)


def _share_training(variants: dict[str, Variant]) -> dict[str, Variant]:
    """Point cross-source settings with the same train sources at one training folder."""
    groups: dict[tuple, list[Variant]] = {}
    for v in variants.values():
        if v.type == "cross":
            groups.setdefault((frozenset(v.train), v.data), []).append(v)
    out = dict(variants)
    for members in groups.values():
        trainer = next((v for v in members if set(v.test) == set(v.train)), members[0])
        for v in members:
            if v is not trainer:
                out[v.folder] = replace(v, trained=trainer.folder)
    return out


def autoencoder_sources(config: Mapping) -> list[str]:
    """The derived sources whose generator is an autoencoder the workflow trains."""
    return [
        name
        for name, spec in config["sources"].items()
        if spec.get("kind") == "derived" and spec.get("generator") == "autoencoder"
    ]


def _generator_study(config: Mapping, enabled: tuple[str, ...]) -> list[Variant]:
    """Cross-source settings of the per-generator matrix and leave-one-generator-out."""
    study = config["generators"]
    ai, human = list(study["ai"]), list(study["human"])
    if not ai:
        return []
    sources = config["sources"]
    for key, names, label in (("ai", ai, "ai"), ("human", human, "human")):
        for name in names:
            if name not in sources:
                raise ValueError(
                    f"config generators.{key}: {name!r} is not in sources "
                    f"({', '.join(sorted(sources))})"
                )
            if sources[name]["label"] != label:
                raise ValueError(
                    f"config generators.{key}: source {name!r} is labelled "
                    f"{sources[name]['label']}, not {label}"
                )
    if not human:
        raise ValueError("config generators.human: name the human source(s) to pair with")
    results = config["results"]
    models = tuple(study["models"] or enabled)
    out = []
    for a in ai:
        for b in ai:
            name = f"gen_{a}__{b}"
            out.append(
                Variant(
                    f"{results}/cross/{name}",
                    "cross",
                    name,
                    models,
                    train=tuple(human + [a]),
                    test=tuple(human + [b]),
                    data=results,
                    study="matrix",
                    train_generators=(a,),
                    test_generators=(b,),
                )
            )
    if len(ai) >= 3:  # with two, leaving one out is the matrix's off-diagonal again
        for b in ai:
            rest = [a for a in ai if a != b]
            name = f"loo_{b}"
            out.append(
                Variant(
                    f"{results}/cross/{name}",
                    "cross",
                    name,
                    models,
                    train=tuple(human + rest),
                    test=tuple(human + [b]),
                    data=results,
                    study="loo",
                    train_generators=tuple(rest),
                    test_generators=(b,),
                )
            )
    return out
