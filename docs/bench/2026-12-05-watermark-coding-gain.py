"""Same energy per payload: uncoded 64 bits (vote + flip up to 6 least certain, old reader) vs
140 coded bits through list_decode. z per coded bit c  <->  z per uncoded bit c*sqrt(140/64)."""
import numpy as np
from provenance import watermark as W
from provenance.watermark import parse_bits, payload_bits, encode_payload, decode
rng = np.random.default_rng(0); pid = "c0ffee42"
bits = np.array(payload_bits(pid)); coded = np.array(encode_payload(list(bits)))
def old(z):
    voted = (z > 0).astype(int)
    if parse_bits(voted): return parse_bits(voted)
    unc = np.argsort(np.abs(z))[:6]
    for mask in range(1, 64):
        c = voted.copy()
        for i, p in enumerate(unc):
            if mask >> i & 1: c[p] ^= 1
        if parse_bits(c): return parse_bits(c)
for zc in (0.8, 1.0, 1.2, 1.4):
    zu = zc * np.sqrt(140 / 64); n = 100
    new = sum(decode((coded*2-1)*zc + rng.normal(0,1,140)) == pid for _ in range(n))
    unc = sum(old((bits*2-1)*zu + rng.normal(0,1,64)) == pid for _ in range(n))
    print(f"coded z {zc}: list Viterbi {new}/{n}; uncoded z {zu:.2f}: vote+6 flips {unc}/{n}")
