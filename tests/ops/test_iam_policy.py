"""`iam-policy`: the printed policies, checked by moto's IAM enforcement (actions) and by their
resources (moto checks actions against `*` only, so resource scoping is asserted on the JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.moto import start_moto, stop_moto
from tests.support.project import dev_like, make_project, run_cli

STACKS = {name: dev_like(secretStore={"kind": "aws-secrets-manager", "region": "us-east-1"})
          for name in ("staging", "prod")}
KEY = "sk-iam-test-0123456789abcdefghijklmn"


def iam_policy(project: Path, stack: str, role: str, env: dict) -> dict:
    result = run_cli("--project-dir", str(project), "iam-policy", "--stack", stack, "--for", role, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def moto_env(endpoint: str, key_id: str = "testing", secret: str = "testing") -> dict:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


def client(service: str, env: dict):
    return boto3.client(service, region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def test_the_policies_name_only_this_stacks_secrets(aws, tmp_path, monkeypatch):
    project = make_project(tmp_path, STACKS)
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arns = {f"kimi-infra/{s}/{p}": sm.create_secret(Name=f"kimi-infra/{s}/{p}", SecretString=KEY)["ARN"]
            for s in STACKS for p in ("moonshot", "kimi-code")}
    env = moto_env(aws.endpoint)

    gateway = iam_policy(project, "staging", "gateway", env)
    operator = iam_policy(project, "staging", "operator", env)

    staging = sorted(arn for name, arn in arns.items() if name.startswith("kimi-infra/staging/"))
    [read] = gateway["Statement"]
    assert read["Action"] == ["secretsmanager:GetSecretValue"]
    assert sorted(read["Resource"]) == staging  # the ARNs AWS gave, with their random suffix
    assert read["Condition"] == {"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}}
    rotate, create = operator["Statement"]  # the token salt is not made yet: the operator may create it
    assert create["Action"] == ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
    [salt] = create["Resource"]
    assert salt == staging[0].split(":secret:")[0] + ":secret:kimi-infra/staging/token-salt-??????"
    assert "secretsmanager:PutSecretValue" in rotate["Action"]
    assert sorted(rotate["Resource"]) == sorted([*staging, salt])
    assert "secretsmanager:DeleteSecret" not in rotate["Action"]


def test_after_a_rotation_the_operator_may_read_the_token_salt_and_the_gateway_not(aws, tmp_path):
    from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore

    project = make_project(tmp_path, STACKS)
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    for provider in ("moonshot", "kimi-code"):
        sm.create_secret(Name=f"kimi-infra/staging/{provider}", SecretString=KEY)
    AwsSecretsManagerStore("kimi-infra/staging/moonshot", "us-east-1").token_salt()  # what a rotation makes
    salt_arn = sm.describe_secret(SecretId="kimi-infra/staging/token-salt")["ARN"]
    env = moto_env(aws.endpoint)

    assert salt_arn in iam_policy(project, "staging", "operator", env)["Statement"][0]["Resource"]
    assert salt_arn not in iam_policy(project, "staging", "gateway", env)["Statement"][0]["Resource"]


def test_a_kms_key_adds_decrypt_through_that_key_only(aws, tmp_path):
    key_arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    stack = dev_like(secretStore={"kind": "aws-secrets-manager", "region": "us-east-1", "kmsKeyId": key_arn})
    project = make_project(tmp_path, {"staging": stack})
    for provider in ("moonshot", "kimi-code"):
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=f"kimi-infra/staging/{provider}", SecretString=KEY, KmsKeyId=key_arn)

    gateway = iam_policy(project, "staging", "gateway", moto_env(aws.endpoint))

    assert gateway["Statement"][1] == {"Sid": "UseTheStackKey", "Effect": "Allow", "Action": ["kms:Decrypt"],
                                       "Resource": [key_arn]}


def test_a_local_store_stack_needs_no_policy(tmp_path):
    project = make_project(tmp_path, {"dev": dev_like()})
    result = run_cli("--project-dir", str(project), "iam-policy", "--stack", "dev", "--for", "gateway")
    assert result.returncode == 2 and "no IAM policy applies" in result.stderr


def actions_only(policy: dict) -> dict:
    """The policy with every Resource `*`: moto matches a statement's resources only against `*`
    (DESIGN.md), so this checks the actions; the resources are checked on the JSON above."""
    return {**policy, "Statement": [{**statement, "Resource": "*"} for statement in policy["Statement"]]}


@pytest.mark.parametrize("role", ["gateway", "operator"])
def test_moto_enforces_the_printed_policy(tmp_path, role):
    # Free calls for set-up: 2 create_secret, iam-policy's describe_secret + list_secret_version_ids
    # per secret (4; the operator's also looks for the token salt: 5), create_user, put_user_policy,
    # create_access_key. Every later call is checked against the user's policy.
    free = 9 if role == "gateway" else 10
    server = start_moto(tmp_path / "moto.log", {"INITIAL_NO_AUTH_ACTION_COUNT": str(free)})
    try:
        admin = moto_env(server.endpoint)
        project = make_project(tmp_path / "project", {"staging": STACKS["staging"]})
        for provider in ("moonshot", "kimi-code"):
            client("secretsmanager", admin).create_secret(Name=f"kimi-infra/staging/{provider}", SecretString=KEY)
        policy = iam_policy(project, "staging", role, admin)
        iam = client("iam", admin)
        iam.create_user(UserName=role)
        iam.put_user_policy(UserName=role, PolicyName="kimi-infra", PolicyDocument=json.dumps(actions_only(policy)))
        access = iam.create_access_key(UserName=role)["AccessKey"]
        user = client("secretsmanager", moto_env(server.endpoint, access["AccessKeyId"], access["SecretAccessKey"]))

        answer = user.get_secret_value(SecretId="kimi-infra/staging/moonshot", VersionStage="AWSCURRENT")
        assert answer["SecretString"] == KEY
        if role == "operator":
            user.put_secret_value(SecretId="kimi-infra/staging/moonshot", SecretString=KEY + "-2",
                                  ClientRequestToken="t" * 36, VersionStages=["AWSPENDING"])
        else:
            with pytest.raises(ClientError) as denied:
                user.put_secret_value(SecretId="kimi-infra/staging/moonshot", SecretString=KEY + "-2")
            assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(ClientError) as denied:
            user.delete_secret(SecretId="kimi-infra/staging/moonshot")
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    finally:
        stop_moto(server)


def test_the_operator_policy_names_each_target_and_its_key_as_aws_does(aws, tmp_path):
    kms = boto3.client("kms", region_name="us-east-1")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/kimi-iam", TargetKeyId=key_arn)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="kimi-iam-config")
    targets = [{"name": "bucket", "kind": "s3", "bucket": "kimi-iam-config", "key": "openclaw/openclaw.json5",
                "region": "us-east-1", "kmsKeyId": "alias/kimi-iam"},
               {"name": "parameter", "kind": "ssm", "parameter": "/kimi-infra/staging/openclaw-config",
                "region": "us-east-1", "kmsKeyId": key_arn.split("/")[-1]}]
    stack = dev_like(keyMode="inline", secretStore={"kind": "aws-secrets-manager", "region": "us-east-1"},
                     targets=targets)
    project = make_project(tmp_path, {"staging": stack})
    for provider in ("moonshot", "kimi-code"):
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=f"kimi-infra/staging/{provider}", SecretString=KEY + provider)
    env = moto_env(aws.endpoint)

    before = {s["Sid"]: s for s in iam_policy(project, "staging", "operator", env)["Statement"]}
    assert run_cli("--project-dir", str(project), "deploy", "--stack", "staging", env=env).returncode == 0
    after = {s["Sid"]: s for s in iam_policy(project, "staging", "operator", env)["Statement"]}
    gateway = iam_policy(project, "staging", "gateway", env)

    made = boto3.client("ssm", region_name="us-east-1").get_parameter(Name=targets[1]["parameter"])["Parameter"]
    assert before["WriteConfigParameters"]["Resource"] == after["WriteConfigParameters"]["Resource"] == [made["ARN"]]
    assert after["WriteConfigObjects"]["Resource"] == ["arn:aws:s3:::kimi-iam-config/openclaw/openclaw.json5"]
    assert after["ListConfigObjectVersions"]["Resource"] == ["arn:aws:s3:::kimi-iam-config"]
    # The alias and the bare key id are one key: one statement, the S3 and SSM actions merged.
    assert after["UseTargetKey0"] == {"Sid": "UseTargetKey0", "Effect": "Allow", "Resource": [key_arn],
                                      "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]}
    assert "CreateMissingSecrets" in before and "CreateMissingSecrets" not in after  # the deploy made the salt
    assert [s["Sid"] for s in gateway["Statement"]] == ["ReadCurrentKeys"]  # the gateway touches no target
    assert all("*" not in action for s in after.values() for action in s["Action"])
