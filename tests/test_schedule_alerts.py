"""cdcgen schedule --alert-topic: the alert rule on the Data API's statement-status events,
its SNS target and input transformer, the topic policy, the freshness check's scheduled
query; the template passes cfn-lint, and --apply creates it all in moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cdcgen import schedule as sched
from cdcgen.cli import app
from tests.test_schedule import CLUSTER, ROLE, SECRET, VENDOR, VENDOR_RUN, WORKGROUP

TOPIC = "arn:aws:sns:eu-west-1:123456789012:cdc-alerts"
REGION = "eu-west-1"


def alerting(**kwargs: Any) -> sched.ScheduleDefinition:
    arguments: dict[str, Any] = {"cluster_arn": CLUSTER, "db_user": "etl", "alert_topic_arn": TOPIC}
    arguments.update(kwargs)
    return sched.define_schedule(VENDOR_RUN, **arguments)


# A Data API event as AWS documents it ("Monitoring events for the Amazon Redshift Data API
# in Amazon EventBridge"), for the run's statement, failed.
FAILED_EVENT = {
    "version": "0",
    "id": "18e7079c-dd4b-dd64-caf9-e2a31640dab0",
    "detail-type": "Redshift Data Statement Status Change",
    "source": "aws.redshift-data",
    "account": "123456789012",
    "time": "2026-12-02T08:00:26Z",
    "region": REGION,
    "resources": [CLUSTER],
    "detail": {
        "principal": "arn:aws:iam::123456789012:role/cdcgen-scheduler",
        "statementName": "QS2-vendor-cdc",
        "statementId": "dd2e1ec9-2ee3-49a0-819f-905fa7d75a4a",
        "redshiftQueryId": -1,
        "state": "FAILED",
        "rows": 0,
        "expireAt": 1764748826,
    },
}


def test_template_has_both_scheduled_queries_and_the_alert_path() -> None:
    template = sched.cloudformation_template(alerting())
    resources = template["Resources"]
    run = resources["CdcRunRule"]["Properties"]
    fresh = resources["CdcFreshnessRule"]["Properties"]
    assert fresh["Name"] == "QS2-vendor-freshness"
    assert fresh["ScheduleExpression"] == run["ScheduleExpression"]
    data = fresh["Targets"][0]["RedshiftDataParameters"]
    assert data["Sql"] == "CALL cdc.sp_vendor_check_freshness();"
    assert data["StatementName"] == "QS2-vendor-freshness" and data["WithEvent"] is True
    assert fresh["Targets"][0]["RoleArn"] == run["Targets"][0]["RoleArn"]

    alert = resources["CdcAlertRule"]["Properties"]
    assert alert["Name"] == "cdcgen-vendor-alerts" and "ScheduleExpression" not in alert
    assert alert["EventPattern"] == {
        "source": ["aws.redshift-data"],
        "detail-type": ["Redshift Data Statement Status Change"],
        "detail": {
            "state": ["FAILED", "ABORTED"],
            "statementName": ["QS2-vendor-cdc", "QS2-vendor-freshness"],
        },
    }
    (target,) = alert["Targets"]
    assert target["Arn"] == {"Ref": "AlertTopicArn"} and "RoleArn" not in target
    assert template["Parameters"]["AlertTopicArn"]["Default"] == TOPIC

    policy = resources["CdcAlertTopicPolicy"]
    assert policy["Type"] == "AWS::SNS::TopicPolicy"
    assert policy["Properties"]["Topics"] == [{"Ref": "AlertTopicArn"}]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Resource"] == {"Ref": "AlertTopicArn"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["CdcAlertRule", "Arn"]}}
    }


def test_without_alert_topic_there_is_no_alert_rule() -> None:
    resources = sched.cloudformation_template(alerting(alert_topic_arn=None))["Resources"]
    assert "CdcAlertRule" not in resources and "CdcAlertTopicPolicy" not in resources
    assert "CdcFreshnessRule" in resources


def test_input_transformer_renders_pipeline_state_and_statement_id() -> None:
    """Fill the template the way EventBridge does (a JSON value where a placeholder stands
    alone; the value's JSON escaped inside a string) and read the SNS message back."""
    transformer = sched.alert_input_transformer(alerting())
    message = transformer["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():
        value: Any = FAILED_EVENT
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        message = message.replace(f": <{name}>", ": " + json.dumps(value))
        message = message.replace(f"<{name}>", json.dumps(value).replace('"', '\\"'))
    body = json.loads(message)
    assert body["pipeline"] == "vendor"
    assert body["state"] == "FAILED" and body["statement"] == "QS2-vendor-cdc"
    assert body["statement_id"] == FAILED_EVENT["detail"]["statementId"]
    assert "describe-statement --id" in body["error"]


def test_event_pattern_matches_failures_only_of_this_pipeline() -> None:
    """moto's EventBridge pattern matcher (its TestEventPattern API answers nothing)."""
    pytest.importorskip("moto")
    from moto.events.models import EventPattern

    pattern = EventPattern.load(json.dumps(sched.alert_event_pattern(alerting())))

    def matches(**detail: Any) -> bool:
        event = {**FAILED_EVENT, "detail": {**FAILED_EVENT["detail"], **detail}}
        return bool(pattern.matches_event(event))

    assert matches()
    assert matches(state="ABORTED", statementName="QS2-vendor-freshness")
    assert not matches(state="FINISHED")
    assert not matches(statementName="QS2-orders-cdc")


def test_topic_must_be_an_sns_arn_in_the_warehouse_region() -> None:
    with pytest.raises(sched.ScheduleError, match="not an Amazon SNS topic ARN"):
        alerting(alert_topic_arn="arn:aws:sqs:eu-west-1:123456789012:q")
    with pytest.raises(sched.ScheduleError, match="us-east-1 but the warehouse in eu-west-1"):
        alerting(alert_topic_arn="arn:aws:sns:us-east-1:123456789012:cdc-alerts")


def test_cli_requests_include_the_alert_rule_and_policy_statement() -> None:
    requests = sched.cli_requests(alerting(role_arn=ROLE))
    assert list(requests) == [
        "put-rule",
        "put-targets",
        "put-rule-freshness",
        "put-targets-freshness",
        "put-rule-alerts",
        "put-targets-alerts",
        "sns-policy-statement",
    ]
    assert json.loads(requests["put-rule-alerts"]["EventPattern"]) == sched.alert_event_pattern(
        alerting()
    )
    from botocore.session import get_session
    from botocore.validate import ParamValidator

    model = get_session().get_service_model("events")
    for key, operation in (
        ("put-rule-alerts", "PutRule"),
        ("put-targets-alerts", "PutTargets"),
        ("put-rule-freshness", "PutRule"),
        ("put-targets-freshness", "PutTargets"),
    ):
        report = ParamValidator().validate(
            requests[key], model.operation_model(operation).input_shape
        )
        assert not report.has_errors(), report.generate_report()


# --------------------------------------------------------------------------- cfn-lint


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"role_arn": ROLE},
        {"cluster_arn": None, "workgroup_arn": WORKGROUP, "db_user": None},
        {"db_user": None, "secret_arn": SECRET},
        {"alert_topic_arn": None},
    ],
    ids=["cluster-db-user", "existing-role", "serverless", "secret", "no-alerts"],
)
def test_template_passes_cfn_lint(kwargs: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("cfnlint")
    from cfnlint.api import ManualArgs, lint

    text = sched.template_yaml(sched.cloudformation_template(alerting(**kwargs)))
    matches = lint(text, config=ManualArgs(regions=[REGION]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


# --------------------------------------------------------------------------- moto


@pytest.fixture
def events_moto(monkeypatch):
    moto = pytest.importorskip("moto")
    import boto3

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        yield boto3.client("events", region_name=REGION), boto3.client("sns", region_name=REGION)


def _targets(events: Any, rule: str) -> list[dict[str, Any]]:
    return events.list_targets_by_rule(Rule=rule)["Targets"]


def test_apply_creates_rules_targets_and_topic_policy_in_moto(events_moto) -> None:
    events, sns = events_moto
    topic = sns.create_topic(Name="cdc-alerts")["TopicArn"]
    assert topic == TOPIC
    d = alerting(role_arn=ROLE)
    arns = sched.apply_schedule_rules(d)  # boto3 clients of its own: moto answers them
    assert set(arns) == {"QS2-vendor-cdc", "QS2-vendor-freshness", "cdcgen-vendor-alerts"}

    rule = events.describe_rule(Name="cdcgen-vendor-alerts")
    assert json.loads(rule["EventPattern"]) == sched.alert_event_pattern(d)
    (target,) = _targets(events, "cdcgen-vendor-alerts")
    assert target["Arn"] == TOPIC
    assert target["InputTransformer"] == sched.alert_input_transformer(d)
    (fresh,) = _targets(events, "QS2-vendor-freshness")
    assert fresh["RedshiftDataParameters"]["Sql"] == "CALL cdc.sp_vendor_check_freshness();"
    assert events.describe_rule(Name="QS2-vendor-freshness")["ScheduleExpression"] == (
        "cron(0/30 * * * ? *)"
    )

    policy = json.loads(sns.get_topic_attributes(TopicArn=TOPIC)["Attributes"]["Policy"])
    ours = [s for s in policy["Statement"] if s.get("Sid") == "cdcgen-vendor-alerts-publish"]
    assert len(ours) == 1 and ours[0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert ours[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == arns["cdcgen-vendor-alerts"]
    others = len(policy["Statement"]) - 1
    assert others >= 1  # the topic's default statement is kept

    # again: an upsert, the statement is replaced, not added twice
    sched.apply_schedule_rules(d)
    again = json.loads(sns.get_topic_attributes(TopicArn=TOPIC)["Attributes"]["Policy"])
    assert len(again["Statement"]) == others + 1


def test_apply_reports_a_missing_topic(events_moto) -> None:
    with pytest.raises(sched.ScheduleApplyFailed, match=r"policy of .*cdc-alerts could not"):
        sched.apply_schedule_rules(alerting(role_arn=ROLE))


def test_cli_apply_with_alert_topic_in_moto(events_moto) -> None:
    _, sns = events_moto
    sns.create_topic(Name="cdc-alerts")
    result = CliRunner().invoke(
        app,
        [
            "schedule",
            str(VENDOR),
            "--cluster-arn",
            CLUSTER,
            "--db-user",
            "etl",
            "--role-arn",
            ROLE,
            "--alert-topic",
            TOPIC,
            "--apply",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "as QS2-vendor-cdc:" in result.output
    assert "CALL cdc.sp_vendor_check_freshness(); as QS2-vendor-freshness:" in result.output
    assert "alerts: cdcgen-vendor-alerts (" in result.output and TOPIC in result.output


def test_cli_prints_the_alert_template() -> None:
    from ruamel.yaml import YAML

    result = CliRunner().invoke(
        app,
        [
            "schedule",
            str(VENDOR),
            "--cluster-arn",
            CLUSTER,
            "--db-user",
            "etl",
            "--alert-topic",
            TOPIC,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    template = YAML(typ="safe").load(result.output)
    assert template["Resources"]["CdcAlertTopicPolicy"]["Type"] == "AWS::SNS::TopicPolicy"
