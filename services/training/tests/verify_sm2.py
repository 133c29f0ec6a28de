"""Verifies the signature of SM2-signed Shequ credentials with gmssl, an SM2 implementation the
project did not write, from nothing but the issuer's published JWKS (`kty` EC, `crv` SM2, `x`,
`y`), as a system bound to national algorithms would: the JWS signing input, SM3 with GM/T
0009's default distinguishing identifier, the signature as r || s.

Input (stdin, JSON): {"jwks": {"keys": [...]}, "cases": [{"name": ..., "credential": jwt}, ...]}
Output (stdout, JSON): {name: outcome}, outcome one of VERIFIED, KEY_UNKNOWN, NOT_SM2,
SIGNATURE_INVALID.
"""

import base64
import json
import sys

from gmssl import sm2


def b64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def outcome(keys, token):
    head, body, signature = token.split(".")
    header = json.loads(b64(head))
    key = keys.get(header.get("kid"))
    if key is None:
        return "KEY_UNKNOWN"
    if header.get("alg") != "SM2" or key.get("kty") != "EC" or key.get("crv") != "SM2":
        return "NOT_SM2"
    public = (b64(key["x"]) + b64(key["y"])).hex()
    verifier = sm2.CryptSM2(private_key=None, public_key=public)
    signed = verifier.verify_with_sm3(b64(signature).hex(), f"{head}.{body}".encode())
    return "VERIFIED" if signed else "SIGNATURE_INVALID"


def main():
    given = json.load(sys.stdin)
    keys = {key["kid"]: key for key in given["jwks"]["keys"]}
    print(json.dumps({case["name"]: outcome(keys, case["credential"]) for case in given["cases"]}))


main()
