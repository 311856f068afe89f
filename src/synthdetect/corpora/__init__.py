"""Corpora the project makes itself: the rule-based composer, its SoundFont renderer and
the offline demo corpus."""
