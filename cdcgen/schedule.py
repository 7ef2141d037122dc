"""Schedule a pipeline's run in Redshift: the EventBridge rule whose target is the Redshift
Data API ``ExecuteStatement`` of ``CALL cdc.sp_<pipeline>_run();`` — what the console
calls a *scheduled query* (REDSHIFT.md, "Scheduled queries").

Three outputs from one :class:`ScheduleDefinition`:

- a CloudFormation template: the rule, its target, and (unless a role is given) the
  IAM role EventBridge assumes to call the Data API;
- the request payloads of ``events.put_rule`` / ``events.put_targets`` (the JSON the
  AWS CLI takes with ``--cli-input-json``, and boto3's keyword arguments);
- :func:`apply_schedule`, which sends those two requests with boto3.

The rule name and the Data API ``StatementName`` are the same ``QS2-<pipeline>-cdc``:
the ``QS2-`` prefix is what lists the rule among the console's scheduled queries. When the
pipeline has ``sp_<pipeline>_check_freshness`` (every build since it exists), a second
scheduled query ``QS2-<pipeline>-freshness`` CALLs it on the same expression; it raises
past ``freshness.error_after``.

With an alert topic (``--alert-topic``), a third rule ``cdcgen-<pipeline>-alerts`` matches
the Data API's "Redshift Data Statement Status Change" events (source
``aws.redshift-data``, sent because the targets set ``WithEvent``) whose ``state`` is
FAILED or ABORTED and whose ``statementName`` is one of the two scheduled queries, and
sends pipeline, statement, state and statement id to the SNS topic. The event carries no
error text: ``aws redshift-data describe-statement --id <statement id>`` gives it (for 24
hours), and the run's error is in ``cdc.run_log`` too. The topic policy that lets
EventBridge publish is part of the template (and merged into the topic's policy by
``--apply``).

Everything but :func:`apply_schedule` is pure, so the payloads are tested exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdcgen.errors import CdcgenError

RULE_PREFIX = "QS2-"
RULE_SUFFIX = "-cdc"
FRESHNESS_SUFFIX = "-freshness"
ALERT_PREFIX = "cdcgen-"
ALERT_SUFFIX = "-alerts"
ALERT_STATES = ("FAILED", "ABORTED")
DATA_API_SOURCE = "aws.redshift-data"
DATA_API_DETAIL_TYPE = "Redshift Data Statement Status Change"
ALERT_POLICY_SID = "cdcgen-{pipeline}-alerts-publish"
RULE_NAME_MAX = 64  # EventBridge rule names: 1-64 of [.-_A-Za-z0-9]
TARGET_ID_MAX = 64
POLICY_VERSION = "2012-10-17"
EVENTS_PRINCIPAL = "events.amazonaws.com"

_PARTITION = r"aws(?:-cn|-us-gov|-iso|-iso-[a-z])?"
_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d"
_ACCOUNT = r"\d{12}"
ARN_PATTERNS = {
    "cluster": re.compile(
        rf"arn:(?P<partition>{_PARTITION}):redshift:(?P<region>{_REGION}):(?P<account>{_ACCOUNT})"
        r":cluster:(?P<name>[a-z][a-z0-9]*(?:-[a-z0-9]+)*)"
    ),
    "workgroup": re.compile(
        rf"arn:(?P<partition>{_PARTITION}):redshift-serverless:(?P<region>{_REGION})"
        rf":(?P<account>{_ACCOUNT}):workgroup/(?P<name>[0-9a-f]{{8}}(?:-[0-9a-f]{{4}}){{3}}-[0-9a-f]{{12}})"
    ),
    "role": re.compile(
        rf"arn:(?P<partition>{_PARTITION}):iam::(?P<account>{_ACCOUNT}):role/(?P<name>[\w+=,.@/-]{{1,512}})"
    ),
    "secret": re.compile(
        rf"arn:(?P<partition>{_PARTITION}):secretsmanager:(?P<region>{_REGION}):(?P<account>{_ACCOUNT})"
        r":secret:(?P<name>[\w/+=.@-]{1,512})"
    ),
    "topic": re.compile(
        rf"arn:(?P<partition>{_PARTITION}):sns:(?P<region>{_REGION}):(?P<account>{_ACCOUNT})"
        r":(?P<name>[A-Za-z0-9_-]{1,256}(?:\.fifo)?)"
    ),
}
ARN_EXAMPLES = {
    "cluster": "arn:aws:redshift:eu-west-1:123456789012:cluster:analytics",
    "workgroup": "arn:aws:redshift-serverless:eu-west-1:123456789012:workgroup/"
    "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "role": "arn:aws:iam::123456789012:role/cdcgen-scheduler",
    "secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift/etl-AbCdEf",
    "topic": "arn:aws:sns:eu-west-1:123456789012:cdc-alerts",
}
_DB_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,126}")
_DB_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_$.@+-]{0,127}")


class ScheduleError(CdcgenError):
    """Arguments that cannot make a valid schedule (a malformed ARN, a missing user):
    the input is wrong, hence exit code 1."""

    exit_code = 1


class ScheduleApplyFailed(CdcgenError):
    """AWS refused or could not be reached; nothing is assumed created."""

    exit_code = 2


@dataclass(frozen=True)
class Arn:
    kind: str  # cluster | workgroup | role | secret
    text: str
    partition: str
    account: str
    region: str  # "" for IAM (global)
    name: str


def parse_arn(text: str, kind: str, option: str) -> Arn:
    """``text`` as an ARN of ``kind``, or a :class:`ScheduleError` naming ``option`` and
    showing the expected shape."""
    match = ARN_PATTERNS[kind].fullmatch(text.strip())
    if not match:
        raise ScheduleError(
            f"{option} {text!r} is not {_article(_KIND_NAMES[kind])} ARN; "
            f"expected e.g. {ARN_EXAMPLES[kind]}"
        )
    parts = match.groupdict()
    return Arn(
        kind,
        match.group(0),
        parts["partition"],
        parts["account"],
        parts.get("region") or "",
        parts["name"],
    )


def _article(noun: str) -> str:
    return f"{'an' if noun[0] in 'AEIOU' else 'a'} {noun}"


_KIND_NAMES = {
    "cluster": "Redshift cluster",
    "workgroup": "Redshift Serverless workgroup",
    "role": "IAM role",
    "secret": "Secrets Manager secret",
    "topic": "Amazon SNS topic",
}


# --------------------------------------------------------------------------- the definition


@dataclass(frozen=True)
class PipelineSchedule:
    """What the pipeline says: its name, cron/rate expression and run procedure."""

    pipeline: str
    expression: str
    procedure: str  # schema-qualified, e.g. cdc.sp_vendor_run
    freshness_procedure: str | None = None  # cdc.sp_vendor_check_freshness; None: older build


@dataclass(frozen=True)
class ScheduleDefinition:
    pipeline: PipelineSchedule
    target: Arn  # the cluster or the Serverless workgroup
    database: str
    db_user: str | None = None  # provisioned clusters: temporary credentials for this user
    secret: Arn | None = None  # or a Secrets Manager secret (both kinds of target)
    role: Arn | None = None  # an existing role; None: the template creates one
    alert_topic: Arn | None = None  # SNS topic for FAILED/ABORTED statements

    @property
    def rule_name(self) -> str:
        return rule_name(self.pipeline.pipeline)

    @property
    def freshness_rule_name(self) -> str | None:
        if self.pipeline.freshness_procedure is None:
            return None
        return f"{RULE_PREFIX}{self.pipeline.pipeline}{FRESHNESS_SUFFIX}"

    @property
    def freshness_sql(self) -> str | None:
        procedure = self.pipeline.freshness_procedure
        return f"CALL {procedure}();" if procedure else None

    @property
    def statement_names(self) -> list[str]:
        """The Data API statement names this schedule runs (= its rule names)."""
        return [n for n in (self.rule_name, self.freshness_rule_name) if n]

    @property
    def alert_rule_name(self) -> str:
        return f"{ALERT_PREFIX}{self.pipeline.pipeline}{ALERT_SUFFIX}"

    @property
    def sql(self) -> str:
        return f"CALL {self.pipeline.procedure}();"

    @property
    def target_id(self) -> str:
        return f"{self.pipeline.pipeline}-cdc-run"[:TARGET_ID_MAX]

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def serverless(self) -> bool:
        return self.target.kind == "workgroup"

    @property
    def description(self) -> str:
        return f"cdcgen: run the {self.pipeline.pipeline} CDC pipeline ({self.sql})"


def rule_name(pipeline: str) -> str:
    return f"{RULE_PREFIX}{pipeline}{RULE_SUFFIX}"


def define_schedule(
    pipeline: PipelineSchedule,
    *,
    cluster_arn: str | None = None,
    workgroup_arn: str | None = None,
    database: str = "dev",
    db_user: str | None = None,
    secret_arn: str | None = None,
    role_arn: str | None = None,
    alert_topic_arn: str | None = None,
) -> ScheduleDefinition:
    """Check every argument and combine them; every problem is a :class:`ScheduleError`."""
    if bool(cluster_arn) == bool(workgroup_arn):
        raise ScheduleError(
            "give exactly one of --cluster-arn (provisioned) or --workgroup-arn (Serverless)"
        )
    target = (
        parse_arn(cluster_arn, "cluster", "--cluster-arn")
        if cluster_arn
        else parse_arn(workgroup_arn or "", "workgroup", "--workgroup-arn")
    )
    if not _DB_NAME.fullmatch(database):
        raise ScheduleError(f"--database {database!r} is not a Redshift database name")
    _check_credentials(target, db_user, secret_arn)
    if db_user is not None and not _DB_USER.fullmatch(db_user):
        raise ScheduleError(f"--db-user {db_user!r} is not a Redshift user name")
    secret = parse_arn(secret_arn, "secret", "--secret-arn") if secret_arn else None
    role = parse_arn(role_arn, "role", "--role-arn") if role_arn else None
    topic = parse_arn(alert_topic_arn, "topic", "--alert-topic") if alert_topic_arn else None
    if topic is not None and topic.region != target.region:
        raise ScheduleError(
            f"--alert-topic is in {topic.region} but the warehouse in {target.region}: the "
            "Data API's events arrive in the warehouse's region, so use a topic there"
        )
    definition = ScheduleDefinition(pipeline, target, database, db_user, secret, role, topic)
    names = [*definition.statement_names, *([definition.alert_rule_name] if topic else [])]
    for name in names:
        if len(name) > RULE_NAME_MAX:
            raise ScheduleError(
                f"rule name {name!r} exceeds EventBridge's {RULE_NAME_MAX} "
                "characters: shorten the pipeline name"
            )
    return definition


def _check_credentials(target: Arn, db_user: str | None, secret_arn: str | None) -> None:
    if db_user and secret_arn:
        raise ScheduleError("give --db-user or --secret-arn, not both")
    if target.kind == "workgroup" and db_user:
        raise ScheduleError(
            "Redshift Serverless takes no --db-user: use --secret-arn, or neither to run as "
            "the role's IAM identity"
        )
    if target.kind == "cluster" and not (db_user or secret_arn):
        raise ScheduleError(
            "a provisioned cluster needs --db-user (temporary credentials) or --secret-arn"
        )


# --------------------------------------------------------------------------- the pipeline side


def pipeline_schedule(
    where: str | Path, *, root: Path | None = None, build_dir: str | Path | None = None
) -> PipelineSchedule:
    """Read name, expression and run procedure from a spec file (``*.yml``) or a build
    (pipeline name under ``build_dir``, default ``generated/``; ``DIR/<pipeline>``; or
    ``DIR/<pipeline>/redshift``): see :func:`cdcgen.deploy.manifest.locate_build`."""
    path = Path(where)
    if path.suffix in (".yml", ".yaml"):
        return _from_spec(path)
    return _from_build(where, root, build_dir)


def _from_spec(path: Path) -> PipelineSchedule:
    from cdcgen.validate import validate_file

    spec = validate_file(path).spec
    if spec.schedule is None:
        raise ScheduleError(
            f'{path} has no schedule: add schedule: {{cron: "cron(0/30 * * * ? *)"}}'
        )
    prefix = f"{spec.schemas.cdc}.sp_{spec.pipeline}"
    return PipelineSchedule(
        spec.pipeline, spec.schedule.cron, f"{prefix}_run", f"{prefix}_check_freshness"
    )


def _from_build(
    where: str | Path, root: Path | None, build_dir: str | Path | None
) -> PipelineSchedule:
    from cdcgen.deploy.manifest import MANIFEST_FILE, locate_build

    directory = locate_build(where, "redshift", root=root, build_dir=build_dir)
    data = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    expression = data.get("schedule")
    if not expression:
        raise ScheduleError(
            f"{directory / MANIFEST_FILE} has no schedule: add schedule.cron to the spec and rebuild"
        )
    procedure = (data.get("procedures") or {}).get("run")
    if not procedure:
        raise ScheduleError(f"{directory / MANIFEST_FILE} names no run procedure; rebuild it")
    freshness = (data.get("procedures") or {}).get("check_freshness")
    return PipelineSchedule(
        str(data["pipeline"]),
        str(expression),
        str(procedure),
        str(freshness) if freshness else None,
    )


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True)
class ScheduledQuery:
    """One rule that CALLs one procedure: the run, or the freshness check."""

    rule: str  # = the Data API StatementName
    sql: str
    target_id: str
    description: str


def scheduled_queries(definition: ScheduleDefinition) -> list[ScheduledQuery]:
    """The run, then (when the pipeline has one) the freshness check."""
    queries = [
        ScheduledQuery(
            definition.rule_name, definition.sql, definition.target_id, definition.description
        )
    ]
    if definition.freshness_rule_name and definition.freshness_sql:
        p = definition.pipeline.pipeline
        queries.append(
            ScheduledQuery(
                definition.freshness_rule_name,
                definition.freshness_sql,
                f"{p}-cdc-freshness"[:TARGET_ID_MAX],
                f"cdcgen: check the freshness of the {p} CDC pipeline ({definition.freshness_sql})",
            )
        )
    return queries


def put_rule_request(
    definition: ScheduleDefinition, query: ScheduledQuery | None = None
) -> dict[str, Any]:
    """``events.put_rule`` keyword arguments (= ``aws events put-rule --cli-input-json``);
    the run's rule unless ``query`` names another."""
    query = query or scheduled_queries(definition)[0]
    return {
        "Name": query.rule,
        "ScheduleExpression": definition.pipeline.expression,
        "State": "ENABLED",
        "Description": query.description,
    }


def put_targets_request(
    definition: ScheduleDefinition, query: ScheduledQuery | None = None
) -> dict[str, Any]:
    """``events.put_targets`` keyword arguments; needs an existing role."""
    if definition.role is None:
        raise ScheduleError(
            "--role-arn is needed for the put-targets request (the CloudFormation template "
            "creates the role itself)"
        )
    query = query or scheduled_queries(definition)[0]
    return {
        "Rule": query.rule,
        "Targets": [
            {
                "Id": query.target_id,
                "Arn": definition.target.text,
                "RoleArn": definition.role.text,
                "RedshiftDataParameters": redshift_data_parameters(definition, query=query),
            }
        ],
    }


def redshift_data_parameters(
    definition: ScheduleDefinition,
    *,
    database: Any = None,
    credentials: Any = None,
    query: ScheduledQuery | None = None,
) -> dict[str, Any]:
    """The Data API call: ``database``/``credentials`` override the literal values (the
    template passes parameter references there)."""
    query = query or scheduled_queries(definition)[0]
    parameters: dict[str, Any] = {"Database": database or definition.database}
    if definition.db_user:
        parameters["DbUser"] = credentials or definition.db_user
    elif definition.secret:
        parameters["SecretManagerArn"] = credentials or definition.secret.text
    parameters.update({"Sql": query.sql, "StatementName": query.rule, "WithEvent": True})
    return parameters


# --------------------------------------------------------------------------- alerts


def alert_event_pattern(definition: ScheduleDefinition) -> dict[str, Any]:
    """The Data API's statement-status events of this pipeline's scheduled queries that
    did not finish: ``detail.statementName`` is the StatementName the targets set."""
    return {
        "source": [DATA_API_SOURCE],
        "detail-type": [DATA_API_DETAIL_TYPE],
        "detail": {
            "state": list(ALERT_STATES),
            "statementName": definition.statement_names,
        },
    }


def alert_input_transformer(definition: ScheduleDefinition) -> dict[str, Any]:
    """The SNS message: a JSON object with the pipeline, statement, state and statement id.
    The event holds no error text, so the message says where to read it."""
    pipeline = definition.pipeline.pipeline
    template = (
        "{"
        f'"pipeline": "{pipeline}", '
        '"statement": <statement>, '
        '"state": <state>, '
        '"statement_id": <statementId>, '
        '"time": <time>, '
        '"error": "aws redshift-data describe-statement --id <statementId> gives the error '
        f'(kept 24 hours); cdcgen status {pipeline} shows failed runs"'
        "}"
    )
    return {
        "InputPathsMap": {
            "statement": "$.detail.statementName",
            "state": "$.detail.state",
            "statementId": "$.detail.statementId",
            "time": "$.time",
        },
        "InputTemplate": template,
    }


def alert_topic_policy_statement(
    definition: ScheduleDefinition, *, topic: Any = None, rule_arn: Any = None
) -> dict[str, Any]:
    """Lets EventBridge publish to the topic, for this pipeline's alert rule only."""
    if definition.alert_topic is None:
        raise ScheduleError("no --alert-topic given")
    statement: dict[str, Any] = {
        "Sid": ALERT_POLICY_SID.format(pipeline=definition.pipeline.pipeline),
        "Effect": "Allow",
        "Principal": {"Service": EVENTS_PRINCIPAL},
        "Action": "sns:Publish",
        "Resource": topic or definition.alert_topic.text,
    }
    if rule_arn is not None:
        statement["Condition"] = {"ArnEquals": {"aws:SourceArn": rule_arn}}
    return statement


def alert_put_rule_request(definition: ScheduleDefinition) -> dict[str, Any]:
    return {
        "Name": definition.alert_rule_name,
        "EventPattern": json.dumps(alert_event_pattern(definition)),
        "State": "ENABLED",
        "Description": f"cdcgen: alert when a {definition.pipeline.pipeline} scheduled query "
        "fails or is aborted",
    }


def alert_put_targets_request(definition: ScheduleDefinition) -> dict[str, Any]:
    if definition.alert_topic is None:
        raise ScheduleError("no --alert-topic given")
    return {
        "Rule": definition.alert_rule_name,
        "Targets": [
            {
                "Id": f"{definition.pipeline.pipeline}-alert-topic"[:TARGET_ID_MAX],
                "Arn": definition.alert_topic.text,
                "InputTransformer": alert_input_transformer(definition),
            }
        ],
    }


def cli_requests(definition: ScheduleDefinition) -> dict[str, Any]:
    """Every request, keyed by the AWS CLI command that takes each (a suffix tells the
    freshness check's and the alerts' apart); ``sns-policy-statement`` is the statement to
    add to the topic's policy (``aws sns set-topic-attributes --attribute-name Policy``)."""
    requests: dict[str, Any] = {}
    for query, suffix in zip(scheduled_queries(definition), ("", "-freshness"), strict=False):
        requests[f"put-rule{suffix}"] = put_rule_request(definition, query)
        requests[f"put-targets{suffix}"] = put_targets_request(definition, query)
    if definition.alert_topic is not None:
        requests["put-rule-alerts"] = alert_put_rule_request(definition)
        requests["put-targets-alerts"] = alert_put_targets_request(definition)
        requests["sns-policy-statement"] = alert_topic_policy_statement(definition)
    return requests


# --------------------------------------------------------------------------- IAM


def trust_policy() -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": EVENTS_PRINCIPAL},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def role_policy(
    definition: ScheduleDefinition,
    *,
    target: Any = None,
    secret: Any = None,
    credentials_resources: Any = None,
) -> dict[str, Any]:
    """What the role may do: run the statement, and obtain the database credentials its
    way of logging in needs (overrides: parameter references in the template)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "RunTheStatement",
            "Effect": "Allow",
            "Action": "redshift-data:ExecuteStatement",
            "Resource": target or definition.target.text,
        }
    ]
    if definition.db_user:
        statements.append(
            {
                "Sid": "TemporaryCredentials",
                "Effect": "Allow",
                "Action": "redshift:GetClusterCredentials",
                "Resource": credentials_resources or _cluster_credential_resources(definition),
            }
        )
    elif definition.secret:
        statements.append(
            {
                "Sid": "ReadTheSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret or definition.secret.text,
            }
        )
    else:  # Serverless without a secret: the role's own IAM identity logs in
        statements.append(
            {
                "Sid": "ServerlessCredentials",
                "Effect": "Allow",
                "Action": "redshift-serverless:GetCredentials",
                "Resource": target or definition.target.text,
            }
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def _cluster_credential_resources(definition: ScheduleDefinition) -> list[str]:
    t = definition.target
    prefix = f"arn:{t.partition}:redshift:{t.region}:{t.account}"
    return [
        f"{prefix}:dbuser:{t.name}/{definition.db_user}",
        f"{prefix}:dbname:{t.name}/{definition.database}",
    ]


# --------------------------------------------------------------------------- CloudFormation


def cloudformation_template(definition: ScheduleDefinition) -> dict[str, Any]:
    """A stack with the rule and its Data API target; the target, database and login are
    parameters (defaulting to the given values), so one template serves every stage."""
    target_parameter = "WorkgroupArn" if definition.serverless else "ClusterArn"
    parameters: dict[str, Any] = {
        target_parameter: {
            "Type": "String",
            "Default": definition.target.text,
            "Description": f"ARN of the {_KIND_NAMES[definition.target.kind]} to run on",
            "AllowedPattern": cloudformation_pattern(definition.target.kind),
        },
        "Database": {"Type": "String", "Default": definition.database},
    }
    credentials: Any = None
    secret: Any = None
    if definition.db_user:
        parameters["DbUser"] = {"Type": "String", "Default": definition.db_user}
        credentials = {"Ref": "DbUser"}
    elif definition.secret:
        parameters["SecretArn"] = {"Type": "String", "Default": definition.secret.text}
        credentials = secret = {"Ref": "SecretArn"}
    resources: dict[str, Any] = {}
    if definition.role is None:
        role_arn: Any = {"Fn::GetAtt": ["CdcRunRole", "Arn"]}
        resources["CdcRunRole"] = _role_resource(definition, target_parameter, secret)
    else:
        parameters["RoleArn"] = {"Type": "String", "Default": definition.role.text}
        role_arn = {"Ref": "RoleArn"}
    outputs: dict[str, Any] = {}
    for query, logical in zip(
        scheduled_queries(definition), ("CdcRunRule", "CdcFreshnessRule"), strict=False
    ):
        resources[logical] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": query.rule,
                "Description": query.description,
                "ScheduleExpression": definition.pipeline.expression,
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": query.target_id,
                        "Arn": {"Ref": target_parameter},
                        "RoleArn": role_arn,
                        "RedshiftDataParameters": redshift_data_parameters(
                            definition,
                            database={"Ref": "Database"},
                            credentials=credentials,
                            query=query,
                        ),
                    }
                ],
            },
        }
        outputs["RuleArn" if logical == "CdcRunRule" else "FreshnessRuleArn"] = {
            "Value": {"Fn::GetAtt": [logical, "Arn"]}
        }
    outputs["RoleArn"] = {"Value": role_arn}
    if definition.alert_topic is not None:
        _alert_resources(definition, parameters, resources, outputs)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Scheduled run of the {definition.pipeline.pipeline} CDC pipeline "
        "(generated by cdcgen schedule)",
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs,
    }


def _alert_resources(
    definition: ScheduleDefinition,
    parameters: dict[str, Any],
    resources: dict[str, Any],
    outputs: dict[str, Any],
) -> None:
    """The alert rule, its SNS target and the topic policy (a topic has one policy:
    AWS::SNS::TopicPolicy replaces whatever the topic had)."""
    assert definition.alert_topic is not None
    parameters["AlertTopicArn"] = {
        "Type": "String",
        "Default": definition.alert_topic.text,
        "Description": "SNS topic that receives failed or aborted runs and freshness checks",
        "AllowedPattern": cloudformation_pattern("topic"),
    }
    topic = {"Ref": "AlertTopicArn"}
    request = alert_put_targets_request(definition)
    (target,) = request["Targets"]
    resources["CdcAlertRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Name": definition.alert_rule_name,
            "Description": alert_put_rule_request(definition)["Description"],
            "EventPattern": alert_event_pattern(definition),
            "State": "ENABLED",
            "Targets": [{**target, "Arn": topic}],
        },
    }
    resources["CdcAlertTopicPolicy"] = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "Topics": [topic],
            "PolicyDocument": {
                "Version": POLICY_VERSION,
                "Statement": [
                    alert_topic_policy_statement(
                        definition, topic=topic, rule_arn={"Fn::GetAtt": ["CdcAlertRule", "Arn"]}
                    )
                ],
            },
        },
    }
    outputs["AlertRuleArn"] = {"Value": {"Fn::GetAtt": ["CdcAlertRule", "Arn"]}}


def cloudformation_pattern(kind: str) -> str:
    """The ARN pattern for ``AllowedPattern`` (Java regex: no Python ``(?P<name>`` groups)."""
    return re.sub(r"\(\?P<\w+>", "(", ARN_PATTERNS[kind].pattern)


def _role_resource(
    definition: ScheduleDefinition, target_parameter: str, secret: Any
) -> dict[str, Any]:
    target = {"Ref": target_parameter}
    credentials_resources = None
    if definition.db_user:
        # dbuser/dbname ARNs of the cluster named in the ClusterArn parameter.
        parts = {
            "Partition": _arn_field(target_parameter, 1),
            "Region": _arn_field(target_parameter, 3),
            "Account": _arn_field(target_parameter, 4),
            "Cluster": _arn_field(target_parameter, 6),
        }
        prefix = "arn:${Partition}:redshift:${Region}:${Account}"
        credentials_resources = [
            {"Fn::Sub": [prefix + ":dbuser:${Cluster}/${DbUser}", parts]},
            {"Fn::Sub": [prefix + ":dbname:${Cluster}/${Database}", parts]},
        ]
    policy = role_policy(
        definition, target=target, secret=secret, credentials_resources=credentials_resources
    )
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"Lets EventBridge run {definition.sql} through the Redshift Data API",
            "AssumeRolePolicyDocument": trust_policy(),
            "Policies": [
                {"PolicyName": f"{definition.rule_name}-data-api", "PolicyDocument": policy}
            ],
        },
    }


def _arn_field(parameter: str, index: int) -> dict[str, Any]:
    return {"Fn::Select": [index, {"Fn::Split": [":", {"Ref": parameter}]}]}


def template_yaml(template: dict[str, Any]) -> str:
    """The template as block YAML: long-form intrinsic functions (no custom tags) and no
    anchors or aliases, which CloudFormation does not read."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")  # round-trip mode keeps CloudFormation's section order
    yaml.default_flow_style = False
    yaml.width = 4096
    out = io.StringIO()
    # A JSON round trip gives every shared sub-object its own copy: no &id001/*id001.
    yaml.dump(json.loads(json.dumps(template)), out)
    return out.getvalue()


# --------------------------------------------------------------------------- applying


def apply_schedule(definition: ScheduleDefinition, client: Any = None) -> str:
    """Create or update the rules and targets with boto3; returns the run rule's ARN
    (:func:`apply_schedule_rules` returns every rule's)."""
    return apply_schedule_rules(definition, client)[definition.rule_name]


def apply_schedule_rules(
    definition: ScheduleDefinition, client: Any = None, sns_client: Any = None
) -> dict[str, str]:
    """Create or update every rule and its target with boto3 (the run, the freshness
    check, the alerts), and add the publish statement to the alert topic's policy;
    returns rule name → ARN.

    ``put_rule``, ``put_targets`` and the policy merge are idempotent upserts, so
    re-running after a change of cron or SQL updates the schedule in place.
    """
    pairs = [
        (put_rule_request(definition, q), put_targets_request(definition, q))
        for q in scheduled_queries(definition)
    ]
    if definition.alert_topic is not None:
        pairs.append((alert_put_rule_request(definition), alert_put_targets_request(definition)))
    if client is None:
        client = _events_client(definition.region)
    arns: dict[str, str] = {}
    for rule_request, targets_request in pairs:
        arns[rule_request["Name"]] = _put(client, rule_request, targets_request)
    if definition.alert_topic is not None:
        if sns_client is None:
            sns_client = _client("sns", definition.region)
        _allow_publish(definition, sns_client, arns[definition.alert_rule_name])
    return arns


def _put(client: Any, rule_request: dict[str, Any], targets_request: dict[str, Any]) -> str:
    name = rule_request["Name"]
    try:
        rule_arn = str(client.put_rule(**rule_request)["RuleArn"])
        response = client.put_targets(**targets_request)
    except (
        Exception
    ) as exc:  # botocore raises ClientError, NoCredentialsError, EndpointConnectionError…
        raise ScheduleApplyFailed(f"EventBridge refused the schedule: {exc}") from None
    failed = response.get("FailedEntries") or []
    if response.get("FailedEntryCount") or failed:
        reasons = "; ".join(
            f"{f.get('TargetId')}: {f.get('ErrorCode')} {f.get('ErrorMessage')}" for f in failed
        )
        raise ScheduleApplyFailed(f"rule {name} exists but its target failed: {reasons}")
    return rule_arn


def _allow_publish(definition: ScheduleDefinition, sns_client: Any, rule_arn: str) -> None:
    """Merge this pipeline's publish statement into the topic's policy (replacing its own
    earlier statement, keeping everyone else's)."""
    assert definition.alert_topic is not None
    topic = definition.alert_topic.text
    statement = alert_topic_policy_statement(definition, rule_arn=rule_arn)
    try:
        attributes = sns_client.get_topic_attributes(TopicArn=topic)["Attributes"]
        policy = json.loads(attributes.get("Policy") or "{}") or {"Version": POLICY_VERSION}
        kept = [s for s in policy.get("Statement", []) if s.get("Sid") != statement["Sid"]]
        policy["Statement"] = [*kept, statement]
        sns_client.set_topic_attributes(
            TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
        )
    except Exception as exc:  # ClientError (NotFound, AuthorizationError), no credentials…
        raise ScheduleApplyFailed(
            f"rule {definition.alert_rule_name} exists but the policy of {topic} could not be "
            f"updated: {exc}"
        ) from None


def _events_client(region: str) -> Any:
    return _client("events", region)


def _client(service: str, region: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise ScheduleApplyFailed("--apply needs boto3: pip install boto3") from None
    return boto3.client(service, region_name=region)
