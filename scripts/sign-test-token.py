"""Prints a JWT for the authorization tests: the claims (a JSON object on stdin) signed
RS256 with moto's Cognito signing key, the one its JWKS serves (kid "dummy"), so that a
test can make tokens Cognito would not issue (expired, for another audience). With
--other-key the same claims and kid are signed with a fresh key: a forgery.

    echo '{"sub": "...", "exp": 1}' | .venv/bin/python scripts/sign-test-token.py [--other-key]

Local tests only: moto's key is public, in moto's own package.
"""

import json
import sys

from joserfc import jwk, jwt
from moto.utilities.utils import load_resource


def main() -> None:
    claims = json.load(sys.stdin)
    if "--other-key" in sys.argv[1:]:
        key = jwk.RSAKey.generate_key(2048)
    else:
        key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    header = {"alg": "RS256", "kid": "dummy", "typ": "JWT"}
    print(jwt.encode(header, claims, key))


if __name__ == "__main__":
    main()
