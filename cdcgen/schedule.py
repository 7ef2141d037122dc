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
the ``QS2-`` prefix is what lists the rule among the console's scheduled queries.
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
}
ARN_EXAMPLES = {
    "cluster": "arn:aws:redshift:eu-west-1:123456789012:cluster:analytics",
    "workgroup": "arn:aws:redshift-serverless:eu-west-1:123456789012:workgroup/"
    "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "role": "arn:aws:iam::123456789012:role/cdcgen-scheduler",
    "secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift/etl-AbCdEf",
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
}


# --------------------------------------------------------------------------- the definition


@dataclass(frozen=True)
class PipelineSchedule:
    """What the pipeline says: its name, cron/rate expression and run procedure."""

    pipeline: str
    expression: str
    procedure: str  # schema-qualified, e.g. cdc.sp_vendor_run


@dataclass(frozen=True)
class ScheduleDefinition:
    pipeline: PipelineSchedule
    target: Arn  # the cluster or the Serverless workgroup
    database: str
    db_user: str | None = None  # provisioned clusters: temporary credentials for this user
    secret: Arn | None = None  # or a Secrets Manager secret (both kinds of target)
    role: Arn | None = None  # an existing role; None: the template creates one

    @property
    def rule_name(self) -> str:
        return rule_name(self.pipeline.pipeline)

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
    if len(rule_name(pipeline.pipeline)) > RULE_NAME_MAX:
        raise ScheduleError(
            f"rule name {rule_name(pipeline.pipeline)!r} exceeds EventBridge's {RULE_NAME_MAX} "
            "characters: shorten the pipeline name"
        )
    return ScheduleDefinition(pipeline, target, database, db_user, secret, role)


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
    return PipelineSchedule(
        spec.pipeline, spec.schedule.cron, f"{spec.schemas.cdc}.sp_{spec.pipeline}_run"
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
    return PipelineSchedule(str(data["pipeline"]), str(expression), str(procedure))


# --------------------------------------------------------------------------- payloads


def put_rule_request(definition: ScheduleDefinition) -> dict[str, Any]:
    """``events.put_rule`` keyword arguments (= ``aws events put-rule --cli-input-json``)."""
    return {
        "Name": definition.rule_name,
        "ScheduleExpression": definition.pipeline.expression,
        "State": "ENABLED",
        "Description": definition.description,
    }


def put_targets_request(definition: ScheduleDefinition) -> dict[str, Any]:
    """``events.put_targets`` keyword arguments; needs an existing role."""
    if definition.role is None:
        raise ScheduleError(
            "--role-arn is needed for the put-targets request (the CloudFormation template "
            "creates the role itself)"
        )
    return {
        "Rule": definition.rule_name,
        "Targets": [
            {
                "Id": definition.target_id,
                "Arn": definition.target.text,
                "RoleArn": definition.role.text,
                "RedshiftDataParameters": redshift_data_parameters(definition),
            }
        ],
    }


def redshift_data_parameters(
    definition: ScheduleDefinition, *, database: Any = None, credentials: Any = None
) -> dict[str, Any]:
    """The Data API call: ``database``/``credentials`` override the literal values (the
    template passes parameter references there)."""
    parameters: dict[str, Any] = {"Database": database or definition.database}
    if definition.db_user:
        parameters["DbUser"] = credentials or definition.db_user
    elif definition.secret:
        parameters["SecretManagerArn"] = credentials or definition.secret.text
    parameters.update(
        {"Sql": definition.sql, "StatementName": definition.rule_name, "WithEvent": True}
    )
    return parameters


def cli_requests(definition: ScheduleDefinition) -> dict[str, Any]:
    """Both requests, keyed by the AWS CLI command that takes each."""
    return {
        "put-rule": put_rule_request(definition),
        "put-targets": put_targets_request(definition),
    }


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
    resources["CdcRunRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Name": definition.rule_name,
            "Description": definition.description,
            "ScheduleExpression": definition.pipeline.expression,
            "State": "ENABLED",
            "Targets": [
                {
                    "Id": definition.target_id,
                    "Arn": {"Ref": target_parameter},
                    "RoleArn": role_arn,
                    "RedshiftDataParameters": redshift_data_parameters(
                        definition, database={"Ref": "Database"}, credentials=credentials
                    ),
                }
            ],
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Scheduled run of the {definition.pipeline.pipeline} CDC pipeline "
        "(generated by cdcgen schedule)",
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": {
            "RuleArn": {"Value": {"Fn::GetAtt": ["CdcRunRule", "Arn"]}},
            "RoleArn": {"Value": role_arn},
        },
    }


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
    """Create or update the rule and its target with boto3; returns the rule ARN.

    ``put_rule`` and ``put_targets`` are both idempotent upserts, so re-running after a
    change of cron or SQL updates the schedule in place.
    """
    rule_request = put_rule_request(definition)
    targets_request = put_targets_request(definition)
    if client is None:
        client = _events_client(definition.region)
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
        raise ScheduleApplyFailed(
            f"rule {definition.rule_name} exists but its target failed: {reasons}"
        )
    return rule_arn


def _events_client(region: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise ScheduleApplyFailed("--apply needs boto3: pip install boto3") from None
    return boto3.client("events", region_name=region)
