#!/usr/bin/env python3
"""Translates template.yaml (SAM) to the CloudFormation JSON that AWS would deploy,
offline, and prints it to stdout.

    .venv/bin/python scripts/translate-template.py [TEMPLATE]

Uses the samtranslator package the SAM CLI brings (the same code as the
AWS::Serverless-2016-10-31 transform). Nothing here talks to AWS: the region and
partition are fixed, no boto session is created for the translator, and the names of
AWS-managed policies resolve from samtranslator's bundled map instead of
iam:ListPolicies.
Parameters take their defaults. tests/tests/security.rs reads the output.
"""

import json
import os
import sys
from pathlib import Path

# Before boto3 is imported anywhere: never read the user's AWS config or credentials,
# and give any session boto3 does create a fixed region.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)

from samcli.yamlhelper import yaml_parse  # noqa: E402  (after the environment is fixed)
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map  # noqa: E402
from samtranslator.translator.arn_generator import ArnGenerator  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

REGION = "us-east-1"
PARTITION = "aws"


class BundledManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which calls iam:ListPolicies:
    the name -> ARN map of AWS-managed policies that samtranslator itself bundles. It
    is consulted only for policies a template names by short name; SAM attaches its
    own defaults (basic execution, X-Ray, DynamoDB stream execution) by ARN."""

    def load(self) -> dict:
        return get_bundled_managed_policy_map(PARTITION) or {}


def stand_in_code_locations(template: dict) -> None:
    """Replaces local code paths with S3 locations, as `sam package` (and `sam validate`)
    do before the transform runs: the transform accepts only S3 URIs. The code's location
    does not affect any other resource."""

    def s3(value):
        if isinstance(value, str) and not value.startswith("s3://"):
            return f"s3://offline-translation/{value.strip('./') or 'root'}.zip"
        return value

    globals_ = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_:
        globals_["CodeUri"] = s3(globals_["CodeUri"])
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if "CodeUri" in props:
                props["CodeUri"] = s3(props["CodeUri"])
            elif "CodeUri" not in globals_ and "InlineCode" not in props and "ImageUri" not in props:
                props["CodeUri"] = s3(".")


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "template.yaml"
    template = yaml_parse(path.read_text(encoding="utf-8"))
    stand_in_code_locations(template)

    # Where the translator would ask a boto session for the region.
    ArnGenerator.BOTO_SESSION_REGION_NAME = REGION
    parameters = {"AWS::Region": REGION, "AWS::Partition": PARTITION}

    translated = transform(template, parameters, BundledManagedPolicyLoader())
    json.dump(translated, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
