"""Verifies Shequ credentials with jwcrypto, a JOSE library the project did not write, the way
another government system would: offline, with nothing but the issuer's published JWKS and its
Bitstring Status List credentials.

Input (stdin, JSON): {"jwks": {...}, "status_lists": [jwt, ...],
                      "cases": [{"name": ..., "credential": jwt, "now": unix seconds}, ...]}
Output (stdout, JSON): {name: outcome}, outcome one of VERIFIED, KEY_UNKNOWN,
SIGNATURE_INVALID, EXPIRED, REVOKED, SUSPENDED, NOT_A_CREDENTIAL.
"""

import base64
import gzip
import json
import sys

from jwcrypto import jwk, jws


def verify(keys, token):
    """The header and claims of a JWS signed by a key of the set; raises when it is not."""
    signed = jws.JWS()
    signed.deserialize(token)
    header = signed.jose_header
    key = keys.get_key(header.get("kid"))
    if key is None:
        raise LookupError("KEY_UNKNOWN")
    signed.verify(key, alg="EdDSA")
    return header, json.loads(signed.payload)


def bit(encoded, index):
    """Entry `index` of a multibase (u = base64url) GZIP-compressed bitstring, left-most first."""
    text = encoded[1:]
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    bits = gzip.decompress(raw)
    return (bits[index // 8] >> (7 - index % 8)) & 1 == 1


def main():
    data = json.load(sys.stdin)
    keys = jwk.JWKSet.from_json(json.dumps(data["jwks"]))
    lists = {}
    for token in data["status_lists"]:
        header, claims = verify(keys, token)
        assert header["typ"] == "vc+jwt", header
        assert "BitstringStatusListCredential" in claims["type"], claims["type"]
        lists[claims["id"]] = claims["credentialSubject"]
    out = {}
    for case in data["cases"]:
        try:
            header, claims = verify(keys, case["credential"])
        except LookupError:
            out[case["name"]] = "KEY_UNKNOWN"
            continue
        except jws.InvalidJWSSignature:
            out[case["name"]] = "SIGNATURE_INVALID"
            continue
        if header.get("typ") != "vc+jwt" or not {"VerifiableCredential", "OpenBadgeCredential"} <= set(claims["type"]):
            out[case["name"]] = "NOT_A_CREDENTIAL"
            continue
        if case["now"] > claims["exp"] or case["now"] < claims["nbf"]:
            out[case["name"]] = "EXPIRED"
            continue
        outcome = "VERIFIED"
        for status in claims["credentialStatus"]:
            subject = lists[status["statusListCredential"]]
            assert subject["statusPurpose"] == status["statusPurpose"]
            if bit(subject["encodedList"], int(status["statusListIndex"])):
                outcome = status["statusPurpose"].upper().replace("REVOCATION", "REVOKED").replace("SUSPENSION", "SUSPENDED")
                break
        out[case["name"]] = outcome
    print(json.dumps(out))


if __name__ == "__main__":
    main()
