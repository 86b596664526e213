"""`iam-policy --for agent`: what `kimi-infra agent` on one gateway host may do, and nothing more.

It reads the stack's S3/SSM targets and the fleet facts next to them, reads and writes its own
report (and may list the bucket's object names, so that S3 says "no such key" rather than "access
denied" of a report or facts not written yet), and nothing else: no key (the gateway's resolver
reads keys under `--for gateway`), no other gateway's report. With `--gateway-id` the report's
name is spelled out; without it the policy uses the IAM variable
`${aws:PrincipalTag/kimi-infra-gateway-id}`, so one policy serves every host whose role (or user)
carries that tag and none can write another's report.
An inline stack's agent also reads the stack's token salt: inline configs are hashed with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kimi_infra.fleet import place_for, require_fleet
from kimi_infra.models import S3TargetSpec, SsmTargetSpec, StackSpec

GATEWAY_TAG = "kimi-infra-gateway-id"
GATEWAY_VARIABLE = "${aws:PrincipalTag/" + GATEWAY_TAG + "}"


def agent_policy(spec: StackSpec, project_dir: Path, gateway_id: str | None) -> dict[str, Any]:
    """The agent's policy document over the stack's S3/SSM targets, ARNs asked of AWS where it has them."""
    from kimi_infra.aws import reusing_clients
    from kimi_infra.ops.iam_policy import POLICY_VERSION, _kms_key_arn, _parameter_arn
    from kimi_infra.stores import partition_for_region

    require_fleet(spec)
    who = gateway_id or GATEWAY_VARIABLE
    statements: list[dict[str, Any]] = []
    with reusing_clients():
        for target in spec.targets:
            place = place_for(target)
            if isinstance(target, S3TargetSpec) and place is not None:
                bucket = f"arn:{partition_for_region(target.region)}:s3:::{target.bucket}"
                statements += [
                    {"Effect": "Allow", "Action": ["s3:GetObject"],
                     "Resource": [f"{bucket}/{target.key}", f"{bucket}/{place.facts_key}",  # type: ignore[union-attr]
                                  f"{bucket}/{place.report_name(who)}"]},
                    {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"{bucket}/{place.report_name(who)}"]},
                    # A GetObject of a missing key (the agent's first report, facts not yet published) answers
                    # 404 only to a caller that may list the bucket; to any other 403, which the agent must
                    # take for a failure. Listing shows object names, never their content.
                    {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket]},
                ]
            elif isinstance(target, SsmTargetSpec) and place is not None:
                arn = _parameter_arn(target)
                statements += [
                    {"Effect": "Allow", "Action": ["ssm:GetParameter"],
                     "Resource": [arn, f"{arn}.fleet", f"{arn}.fleet-reports/{who}"]},
                    {"Effect": "Allow", "Action": ["ssm:PutParameter"], "Resource": [f"{arn}.fleet-reports/{who}"]},
                ]
            else:
                continue
            if target.kmsKeyId:  # an inline config is encrypted with the target's key
                statements.append({"Effect": "Allow", "Action": ["kms:Decrypt"],
                                   "Resource": [_kms_key_arn(target.kmsKeyId, target.region, None)]})
        statements += _salt_statement(spec, project_dir)
    for index, statement in enumerate(statements):
        statement["Sid"] = f"Agent{index}"
    return {"Version": POLICY_VERSION, "Statement": statements}


def _salt_statement(spec: StackSpec, project_dir: Path) -> list[dict[str, Any]]:
    """Inline stacks: GetSecretValue on the token salt (to check a config's keyed hash)."""
    from kimi_infra.stores import open_store
    from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore

    if not spec.files_hold_keys:
        return []
    store = open_store(spec, spec.providers[0], project_dir)
    arn = store.salt_arn() if isinstance(store, AwsSecretsManagerStore) else None
    if arn is None:
        return []
    return [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [arn]}]
