"""The model file and its scoring, byte for byte as servers/src/model.rs and
servers/src/features.rs define them (and docs/predict-api.md describes)."""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"VLYMODEL"
VERSION = 1
MAX_CLASSES = 64
MAX_HASH_BITS = 24

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193

# A token: a maximal run of ASCII letters, ASCII digits or bytes >= 0x80.
_TOKEN = re.compile(rb"[A-Za-z0-9\x80-\xff]+")

# The committed model, found relative to this file (servers/python/volley_predict/).
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "model" / "model.bin"


class ModelError(Exception):
    """Why a model file could not be read."""


def _fnv(h: int, data: bytes) -> int:
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def fnv1a(data: bytes) -> int:
    """FNV-1a-32 of the lowercased bytes of data."""
    return _fnv(FNV_OFFSET, data.lower())


def feature_hashes(text: str) -> list[int]:
    """The raw 32-bit hash of every feature, in the documented order: for each
    token its unigram, then (from the second token on) the bigram ending with
    it, which continues the previous token's hash with a space."""
    out: list[int] = []
    prev = None
    # bytes.lower() lowercases ASCII letters only, as the spec says.
    for token in _TOKEN.findall(text.encode("utf-8").lower()):
        uni = _fnv(FNV_OFFSET, token)
        out.append(uni)
        if prev is not None:
            out.append(_fnv(_fnv(prev, b" "), token))
        prev = uni
    return out


@dataclass(frozen=True)
class Prediction:
    category: int
    label: str


class Model:
    def __init__(self, hash_bits: int, labels: list[str], bias: np.ndarray, weights: np.ndarray):
        self.hash_bits = hash_bits
        self.labels = labels
        self.mask = (1 << hash_bits) - 1
        # f32 widened to f64 once: the sums are taken in f64 as specified.
        self.bias = bias.astype(np.float64)
        self.weights = weights.astype(np.float64).reshape(1 << hash_bits, len(labels))

    @classmethod
    def load(cls, path: str | Path) -> "Model":
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ModelError(f"reading model file {path}: {e}") from e
        return cls.from_bytes(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        # The same checks, in the same order, as Model::from_bytes in Rust.
        pos = 0

        def take(n: int, what: str) -> bytes:
            nonlocal pos
            if len(data) - pos < n:
                raise ModelError(f"model file is truncated: {what} missing")
            pos += n
            return data[pos - n : pos]

        def u32(what: str) -> int:
            return struct.unpack("<I", take(4, what))[0]

        if take(8, "magic") != MAGIC:
            raise ModelError("not a volley model file (magic bytes are not VLYMODEL)")
        version = u32("version")
        if version != VERSION:
            raise ModelError(
                f"model file version {version} is not supported (this build reads version {VERSION})"
            )
        hash_bits = u32("hash_bits")
        classes = u32("class count")
        if not (1 <= hash_bits <= MAX_HASH_BITS and 2 <= classes <= MAX_CLASSES):
            raise ModelError(
                f"invalid model: hash_bits {hash_bits} or class count {classes} out of range"
            )
        labels = []
        for _ in range(classes):
            raw = take(u32("label length"), "label")
            try:
                labels.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise ModelError("invalid model: a label is not UTF-8") from None
        bias = np.frombuffer(take(4 * classes, "bias"), "<f4")
        weights = np.frombuffer(take(4 * (1 << hash_bits) * classes, "weights"), "<f4")
        if pos != len(data):
            raise ModelError(f"model file has {len(data) - pos} unexpected bytes after the weights")
        if not (np.isfinite(bias).all() and np.isfinite(weights).all()):
            raise ModelError("invalid model: a weight is not finite")
        return cls(hash_bits, labels, bias, weights)

    def logits(self, text: str) -> np.ndarray:
        buckets = [h & self.mask for h in feature_hashes(text)]
        n = len(buckets)
        if n == 0:
            return self.bias.copy()
        # add.accumulate adds the rows strictly one after another (no pairwise
        # summation), so each class's sum is the spec's sequential f64 sum;
        # it starts at row 0 instead of 0.0 + row 0, which is the same value.
        sums = np.add.accumulate(self.weights[buckets], axis=0)[-1]
        return self.bias + sums * (1.0 / math.sqrt(n))

    def predict(self, text: str) -> Prediction:
        # argmax returns the first maximum: the lowest index wins a tie.
        best = int(np.argmax(self.logits(text)))
        return Prediction(best, self.labels[best])
