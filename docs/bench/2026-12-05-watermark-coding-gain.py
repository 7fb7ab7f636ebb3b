"""Same energy per payload: the uncoded 64 bits (vote, then flip up to 6 least certain bits:
the previous reader) against the 140 coded bits through `decode` (list Viterbi, 128
candidates). A coded bit at z c carries the energy of an uncoded bit at c * sqrt(140 / 64)."""

import numpy as np

from provenance.watermark import decode, encode_payload, parse_bits, payload_bits

rng = np.random.default_rng(0)
PAYLOAD = "c0ffee42"
bits = np.array(payload_bits(PAYLOAD))
coded = np.array(encode_payload(list(bits)))


def vote_and_flip(z: np.ndarray) -> str | None:
    voted = (z > 0).astype(int)
    uncertain = np.argsort(np.abs(z))[:6]
    for mask in range(64):
        candidate = voted.copy()
        for i, position in enumerate(uncertain):
            if mask >> i & 1:
                candidate[position] ^= 1
        identifier = parse_bits(candidate)
        if identifier is not None:
            return identifier
    return None


for z_coded in (0.8, 1.0, 1.2, 1.4):
    z_uncoded = z_coded * np.sqrt(140 / 64)
    trials = 100
    listed = sum(
        decode((coded * 2 - 1) * z_coded + rng.normal(0, 1, 140)) == PAYLOAD for _ in range(trials)
    )
    voted = sum(
        vote_and_flip((bits * 2 - 1) * z_uncoded + rng.normal(0, 1, 64)) == PAYLOAD
        for _ in range(trials)
    )
    print(f"coded z {z_coded}: list Viterbi {listed}/{trials}; "
          f"uncoded z {z_uncoded:.2f}: vote + 6 flips {voted}/{trials}")  # fmt: skip
