"""cdcgen schedule: the EventBridge "scheduled query" of a pipeline — template structure,
the exact put-rule/put-targets payloads, the boto3 calls (botocore's Stubber), and the
CLI's checks of its arguments."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from cdcgen import schedule as sched
from cdcgen.cli import app
from tests.pipeline_harness import REPO

VENDOR = REPO / "mappings" / "vendor.yml"
CLUSTER = "arn:aws:redshift:eu-west-1:123456789012:cluster:analytics"
WORKGROUP = "arn:aws:redshift-serverless:eu-west-1:123456789012:workgroup/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
ROLE = "arn:aws:iam::123456789012:role/cdcgen-scheduler"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift/etl-AbCdEf"
VENDOR_RUN = sched.PipelineSchedule(
    "vendor", "cron(0/30 * * * ? *)", "cdc.sp_vendor_run", "cdc.sp_vendor_check_freshness"
)


def definition(**kwargs: Any) -> sched.ScheduleDefinition:
    arguments: dict[str, Any] = {"cluster_arn": CLUSTER, "db_user": "etl"}
    arguments.update(kwargs)
    return sched.define_schedule(VENDOR_RUN, **arguments)


def rule_and_role(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    resources = template["Resources"]
    rule = resources["CdcRunRule"]
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    return rule["Properties"], (roles[0]["Properties"] if roles else None)


def actions(policy: dict[str, Any]) -> set[str]:
    return {s["Action"] for s in policy["Statement"]}


# --------------------------------------------------------------------------- from the pipeline


def test_schedule_read_from_the_spec_and_from_the_build(monkeypatch) -> None:
    assert sched.pipeline_schedule(VENDOR) == VENDOR_RUN
    monkeypatch.chdir(REPO)
    assert sched.pipeline_schedule("vendor") == VENDOR_RUN  # generated/vendor/redshift
    orders = sched.pipeline_schedule(REPO / "mappings" / "orders.yml")
    assert orders.expression == "rate(15 minutes)"
    assert orders.procedure.endswith(f".sp_{orders.pipeline}_run")


# --------------------------------------------------------------------------- CloudFormation


def test_template_for_a_provisioned_cluster_with_temporary_credentials() -> None:
    template = sched.cloudformation_template(definition())
    rule, role = rule_and_role(template)
    (target,) = rule["Targets"]
    data = target["RedshiftDataParameters"]

    assert rule["Name"] == data["StatementName"] == "QS2-vendor-cdc"
    assert rule["ScheduleExpression"] == "cron(0/30 * * * ? *)"
    assert rule["State"] == "ENABLED"
    assert data["Sql"] == "CALL cdc.sp_vendor_run();"
    assert data["WithEvent"] is True
    assert data["Database"] == {"Ref": "Database"} and data["DbUser"] == {"Ref": "DbUser"}
    assert "SecretManagerArn" not in data
    assert target["Arn"] == {"Ref": "ClusterArn"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["CdcRunRole", "Arn"]}
    assert template["Parameters"]["ClusterArn"]["Default"] == CLUSTER
    assert template["Parameters"]["DbUser"]["Default"] == "etl"

    assert role is not None
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    (policy,) = role["Policies"]
    assert actions(policy["PolicyDocument"]) == {
        "redshift-data:ExecuteStatement",
        "redshift:GetClusterCredentials",
    }


def test_template_with_a_secret_reads_only_that_secret() -> None:
    rule, role = rule_and_role(
        sched.cloudformation_template(definition(db_user=None, secret_arn=SECRET))
    )
    data = rule["Targets"][0]["RedshiftDataParameters"]
    assert data["SecretManagerArn"] == {"Ref": "SecretArn"} and "DbUser" not in data
    assert role is not None
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert {
        "Action": "secretsmanager:GetSecretValue",
        "Resource": {"Ref": "SecretArn"},
    }.items() <= statements[1].items()


def test_template_for_serverless_runs_as_the_roles_identity() -> None:
    template = sched.cloudformation_template(
        definition(cluster_arn=None, workgroup_arn=WORKGROUP, db_user=None)
    )
    rule, role = rule_and_role(template)
    target = rule["Targets"][0]
    assert target["Arn"] == {"Ref": "WorkgroupArn"}
    assert set(target["RedshiftDataParameters"]) == {
        "Database",
        "Sql",
        "StatementName",
        "WithEvent",
    }
    assert role is not None
    assert actions(role["Policies"][0]["PolicyDocument"]) == {
        "redshift-data:ExecuteStatement",
        "redshift-serverless:GetCredentials",
    }


def test_template_with_an_existing_role_creates_none() -> None:
    template = sched.cloudformation_template(definition(role_arn=ROLE))
    rule, role = rule_and_role(template)
    assert role is None
    assert rule["Targets"][0]["RoleArn"] == {"Ref": "RoleArn"}
    assert template["Parameters"]["RoleArn"]["Default"] == ROLE


def test_template_yaml_is_plain_and_reads_back() -> None:
    from ruamel.yaml import YAML

    template = sched.cloudformation_template(definition())
    text = sched.template_yaml(template)
    assert "&id" not in text and "*id" not in text  # CloudFormation reads no aliases
    assert "!" not in text.replace("!=", "")  # long-form intrinsics, no custom tags
    assert list(YAML(typ="safe").load(io.StringIO(text))) == [
        "AWSTemplateFormatVersion",
        "Description",
        "Parameters",
        "Resources",
        "Outputs",
    ]
    assert YAML(typ="safe").load(io.StringIO(text)) == json.loads(json.dumps(template))


def test_allowed_pattern_is_java_compatible() -> None:
    pattern = sched.cloudformation_pattern("cluster")
    assert "(?P<" not in pattern
    import re

    assert re.fullmatch(pattern, CLUSTER)


# --------------------------------------------------------------------------- payloads


def test_put_rule_and_put_targets_payloads() -> None:
    d = definition(role_arn=ROLE)
    assert sched.put_rule_request(d) == {
        "Name": "QS2-vendor-cdc",
        "ScheduleExpression": "cron(0/30 * * * ? *)",
        "State": "ENABLED",
        "Description": "cdcgen: run the vendor CDC pipeline (CALL cdc.sp_vendor_run();)",
    }
    assert sched.put_targets_request(d) == {
        "Rule": "QS2-vendor-cdc",
        "Targets": [
            {
                "Id": "vendor-cdc-run",
                "Arn": CLUSTER,
                "RoleArn": ROLE,
                "RedshiftDataParameters": {
                    "Database": "dev",
                    "DbUser": "etl",
                    "Sql": "CALL cdc.sp_vendor_run();",
                    "StatementName": "QS2-vendor-cdc",
                    "WithEvent": True,
                },
            }
        ],
    }


def test_payloads_are_valid_for_botocore() -> None:
    """botocore's own model accepts them (shapes, names, lengths)."""
    from botocore.session import get_session
    from botocore.validate import ParamValidator

    model = get_session().get_service_model("events")
    d = definition(role_arn=ROLE)
    for operation, params in (
        ("PutRule", sched.put_rule_request(d)),
        ("PutTargets", sched.put_targets_request(d)),
    ):
        report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
        assert not report.has_errors(), report.generate_report()


def test_put_targets_needs_a_role() -> None:
    with pytest.raises(sched.ScheduleError, match="--role-arn"):
        sched.put_targets_request(definition())


# --------------------------------------------------------------------------- boto3


@pytest.fixture
def events_client(monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from botocore.stub import Stubber

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("events", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


RULE_ARN = "arn:aws:events:eu-west-1:123456789012:rule/QS2-vendor-cdc"
FRESHNESS_ARN = "arn:aws:events:eu-west-1:123456789012:rule/QS2-vendor-freshness"


def test_apply_sends_exactly_the_two_requests(events_client) -> None:
    """A build from before sp_<p>_check_freshness: the run's rule and target only."""
    client, stubber = events_client
    run_only = sched.PipelineSchedule("vendor", "cron(0/30 * * * ? *)", "cdc.sp_vendor_run")
    d = sched.define_schedule(run_only, cluster_arn=CLUSTER, db_user="etl", role_arn=ROLE)
    stubber.add_response("put_rule", {"RuleArn": RULE_ARN}, sched.put_rule_request(d))
    stubber.add_response(
        "put_targets", {"FailedEntryCount": 0, "FailedEntries": []}, sched.put_targets_request(d)
    )
    assert sched.apply_schedule(d, client) == RULE_ARN


def test_apply_reports_a_failed_target(events_client) -> None:
    client, stubber = events_client
    d = definition(role_arn=ROLE)
    stubber.add_response("put_rule", {"RuleArn": RULE_ARN}, sched.put_rule_request(d))
    stubber.add_response(
        "put_targets",
        {
            "FailedEntryCount": 1,
            "FailedEntries": [
                {
                    "TargetId": "vendor-cdc-run",
                    "ErrorCode": "ValidationException",
                    "ErrorMessage": "bad role",
                }
            ],
        },
        sched.put_targets_request(d),
    )
    with pytest.raises(sched.ScheduleApplyFailed, match="bad role"):
        sched.apply_schedule(d, client)


def test_apply_reports_access_denied(events_client) -> None:
    client, stubber = events_client
    d = definition(role_arn=ROLE)
    stubber.add_client_error("put_rule", "AccessDeniedException", "not allowed to events:PutRule")
    with pytest.raises(sched.ScheduleApplyFailed, match="not allowed"):
        sched.apply_schedule(d, client)


# --------------------------------------------------------------------------- CLI


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["schedule", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_cli_prints_cloudformation_yaml() -> None:
    from ruamel.yaml import YAML

    output = cli(str(VENDOR), "--cluster-arn", CLUSTER, "--db-user", "etl")
    rule, _ = rule_and_role(YAML(typ="safe").load(output))
    assert rule["Name"] == "QS2-vendor-cdc"


def test_cli_prints_the_aws_cli_requests() -> None:
    output = cli(
        str(VENDOR),
        "--workgroup-arn",
        WORKGROUP,
        "--secret-arn",
        SECRET,
        "--role-arn",
        ROLE,
        "--format",
        "cli-json",
    )
    requests = json.loads(output[: output.rindex("}") + 1])
    assert requests["put-rule"]["Name"] == requests["put-targets"]["Rule"] == "QS2-vendor-cdc"
    assert (
        requests["put-targets"]["Targets"][0]["RedshiftDataParameters"]["SecretManagerArn"]
        == SECRET
    )


def test_cli_apply_goes_through_boto3(monkeypatch, events_client) -> None:
    client, stubber = events_client
    d = definition(role_arn=ROLE)
    stubber.add_response("put_rule", {"RuleArn": RULE_ARN}, sched.put_rule_request(d))
    stubber.add_response(
        "put_targets", {"FailedEntryCount": 0, "FailedEntries": []}, sched.put_targets_request(d)
    )
    (_, freshness) = sched.scheduled_queries(d)
    stubber.add_response(
        "put_rule", {"RuleArn": FRESHNESS_ARN}, sched.put_rule_request(d, freshness)
    )
    stubber.add_response(
        "put_targets",
        {"FailedEntryCount": 0, "FailedEntries": []},
        sched.put_targets_request(d, freshness),
    )
    monkeypatch.setattr(sched, "_events_client", lambda region: client)
    output = cli(
        str(VENDOR), "--cluster-arn", CLUSTER, "--db-user", "etl", "--role-arn", ROLE, "--apply"
    )
    assert RULE_ARN in output and FRESHNESS_ARN in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cluster-arn", "arn:aws:redshift:eu-west-1:12345:cluster:x", "--db-user", "u"],
            "not a Redshift cluster ARN",
        ),
        (["--cluster-arn", WORKGROUP, "--db-user", "u"], "not a Redshift cluster ARN"),
        (["--workgroup-arn", CLUSTER], "not a Redshift Serverless workgroup ARN"),
        (["--cluster-arn", CLUSTER, "--workgroup-arn", WORKGROUP, "--db-user", "u"], "exactly one"),
        ([], "exactly one"),
        (["--cluster-arn", CLUSTER], "needs --db-user"),
        (["--cluster-arn", CLUSTER, "--db-user", "u", "--secret-arn", SECRET], "not both"),
        (["--workgroup-arn", WORKGROUP, "--db-user", "u"], "takes no --db-user"),
        (
            ["--cluster-arn", CLUSTER, "--secret-arn", "arn:aws:s3:::bucket"],
            "not a Secrets Manager secret ARN",
        ),
        (
            ["--cluster-arn", CLUSTER, "--db-user", "u", "--role-arn", "cdcgen-scheduler"],
            "not an IAM role ARN",
        ),
        (
            ["--cluster-arn", CLUSTER, "--db-user", "u", "--format", "cli-json"],
            "--role-arn is needed",
        ),
        (
            ["--cluster-arn", CLUSTER, "--db-user", "u", "--database", "Bad-Name"],
            "not a Redshift database name",
        ),
    ],
)
def test_cli_refuses_bad_arguments(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["schedule", str(VENDOR), *args], catch_exceptions=False)
    assert result.exit_code == 1, result.output  # bad arguments: the input is wrong
    assert message in " ".join(result.output.split())
    assert "AWSTemplateFormatVersion" not in result.output
