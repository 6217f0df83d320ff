"""Area 5: the audit Policy (``--audit-policy``, or found among manifests), judged by simulating it.

kubescape C-0161 looks at each rule on its own; the apiserver does not: the *first* matching rule
decides (upstream ``k8s.io/apiserver/pkg/audit/policy/checker.go``), so a leading ``- level:
RequestResponse`` logs every Secret body while a later ``Metadata`` rule for Secrets never applies.
This check therefore decodes the policy as kube-apiserver does (:mod:`._policy_model`), runs the
request grid of :mod:`._policy_sim` through the first-match checker and reports, at the line of the
rule that decided (or of ``rules:`` when no rule matched and the default ``None`` applied):

* SBX-501: the apiserver rejects the file (one finding per broken rule; no simulation then).
* SBX-502: get/list/watch of Secrets at level ``None`` for some identity.
* SBX-503: Secret values or tokens written to the log: Secrets at ``RequestResponse`` (get, list,
  create, update, patch, delete; watch streams are not recorded) or ``Request`` for writes,
  TokenReviews at ``Request``+ (the request holds the bearer token), TokenRequests
  (``serviceaccounts/token``) at ``RequestResponse`` (the response holds the token).
* SBX-504: the same for ConfigMaps.
* SBX-505: exec, port-forward, proxy (pods, services, nodes) and TokenRequests at ``None``.
* SBX-506: ``omitStages`` that leave a logged request with no record at all, or with only the
  ``RequestReceived`` record, which is written before authorization and has neither the
  decision nor the response code (omitting ``RequestReceived`` alone is fine and recommended);
  and policy-wide stage names the apiserver does not know (they are silently ignored).
* SBX-507: no final catch-all rule, or rules placed after a catch-all (they never match).
* SBX-508: fields the apiserver ignores (a typo such as ``namespace:`` widens a rule).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from sealbox.audit.checks import _policy_sim as sim
from sealbox.audit.checks._policy_model import STAGES, Policy, decode_policy, effective_level
from sealbox.audit.checks._yamlfile import YamlFile, read_yaml_file
from sealbox.audit.model import Control, Finding, InputProblem, Location, Severity

__all__ = ["CONTROLS", "check", "effective_level", "judge"]

_C0161 = ("kubescape C-0161", "kube-bench 3.2.2")
REJECTED = Control(
    id="SBX-501",
    title="Audit policy rejected by kube-apiserver",
    severity=Severity.HIGH,
    rationale=(
        "kube-apiserver refuses to start with a policy that fails decoding or validation, so the "
        "audit logging it describes is not in effect."
    ),
    remediation="Fix every reported field (apiVersion audit.k8s.io/v1, valid levels and stages).",
    mappings=("kubescape C-0160", "kube-bench 3.2.1"),
)
READS_NOT_LOGGED = Control(
    id="SBX-502",
    title="Secret reads not logged",
    severity=Severity.HIGH,
    rationale=(
        "The first matching rule decides "
        "(https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/) and a request no rule "
        "matches is not logged (level None); a None rule (or no rule) for get/list/watch on "
        "secrets leaves who read which Secret invisible."
    ),
    remediation=(
        'Add `- level: Metadata` for `secrets` (group "") before any rule that can match them '
        "with level None."
    ),
    mappings=_C0161,
)
SECRET_VALUES_LOGGED = Control(
    id="SBX-503",
    title="Secret values or tokens written to the audit log",
    severity=Severity.HIGH,
    rationale=(
        "At RequestResponse the log holds the response object (every value of a get or list of "
        "Secrets), at Request the request body (Secret writes, TokenReview tokens) "
        "(https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/); a leading catch-all "
        "RequestResponse rule does this while kubescape C-0161 passes it."
    ),
    remediation=(
        "Log secrets, tokenreviews and serviceaccounts/token at Metadata in a rule placed before "
        "any Request/RequestResponse rule (CIS Kubernetes Benchmark 3.2.2)."
    ),
    mappings=_C0161,
)
CONFIGMAP_VALUES_LOGGED = Control(
    id="SBX-504",
    title="ConfigMap contents written to the audit log",
    severity=Severity.LOW,
    rationale=(
        "CIS 3.2.2 and kubescape C-0161 expect Metadata for configmaps: their data often holds "
        "credentials by mistake, and Request/RequestResponse copies it into the log."
    ),
    remediation="Log configmaps at Metadata before any Request/RequestResponse rule.",
    mappings=_C0161,
)
EXEC_NOT_LOGGED = Control(
    id="SBX-505",
    title="Exec, port-forward, proxy or token requests not logged",
    severity=Severity.MEDIUM,
    rationale=(
        "pods/exec, portforward and the proxy subresources reach Secret contents indirectly and "
        "serviceaccounts/token mints credentials; CIS Kubernetes Benchmark 3.2.2 wants them logged."
    ),
    remediation="Log these subresources at Metadata (or above) before any None rule.",
    mappings=_C0161,
)
OMIT_STAGES = Control(
    id="SBX-506",
    title="omitStages drop the audit record of sensitive requests",
    severity=Severity.MEDIUM,
    rationale=(
        "Omitted stages are the policy's plus the rule's (upstream "
        "k8s.io/apiserver/pkg/audit/policy/checker.go); without ResponseComplete (and "
        "ResponseStarted) only RequestReceived is left, which has no response code and no "
        "authorization decision, and without it too nothing is written at all."
    ),
    remediation="Omit only RequestReceived (and Panic if you must); keep ResponseComplete.",
    mappings=_C0161,
)
NO_CATCH_ALL = Control(
    id="SBX-507",
    title="Audit policy catch-all missing or not last",
    severity=Severity.LOW,
    rationale=(
        "Requests no rule matches are not logged (default None); rules placed after a rule without "
        "filters can never match: the first matching rule decides "
        "(https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/)."
    ),
    remediation="End the rules with one catch-all (e.g. `- level: Metadata`) and nothing after.",
    mappings=("kube-bench 3.2.2",),
)
IGNORED_FIELD = Control(
    id="SBX-508",
    title="Audit policy field ignored by kube-apiserver",
    severity=Severity.MEDIUM,
    rationale=(
        "kube-apiserver falls back to lenient decoding and drops unknown fields, so a mistyped "
        "filter (namespace:, userGroup:) silently makes its rule match more requests."
    ),
    remediation="Fix the field name; the valid ones are listed in the message.",
)

CONTROLS: tuple[Control, ...] = (
    REJECTED,
    READS_NOT_LOGGED,
    SECRET_VALUES_LOGGED,
    CONFIGMAP_VALUES_LOGGED,
    EXEC_NOT_LOGGED,
    OMIT_STAGES,
    NO_CATCH_ALL,
    IGNORED_FIELD,
)

_CONNECT = frozenset(
    {sim.PODS_EXEC, sim.PODS_PORTFORWARD, sim.PODS_PROXY, sim.SERVICES_PROXY, sim.NODES_PROXY}
)
_VALUE_VERBS = frozenset({"get", "list", "create", "update", "patch", "delete"})
_OUTCOME_STAGES = frozenset({"ResponseStarted", "ResponseComplete"})


def check(path: Path) -> tuple[list[Finding], list[InputProblem]]:
    """Judge the audit policy at ``path``. Never raises for bad content."""
    file, problems = read_yaml_file(path, "audit policy")
    if file is None:
        return [], problems
    return judge(file), []


def judge(file: YamlFile) -> list[Finding]:
    """Judge one audit policy already read (a file, or a document of a stream)."""
    policy, issues = decode_policy(file.document)
    findings = [
        Finding(
            REJECTED if issue.rejected else IGNORED_FIELD,
            f"{issue.path or '(file)'}: {issue.message}",
            Location(file.path, issue.line or 1),
            details={"field": issue.path},
        )
        for issue in issues
    ]
    if policy is not None:
        findings += _judge(policy, file.path)
    return findings


def _judge(policy: Policy, path: str) -> list[Finding]:
    outcomes = list(sim.simulate(policy))
    return [
        *_per_rule(policy, path, READS_NOT_LOGGED, [o for o in outcomes if _read_unlogged(o)]),
        *_per_rule(policy, path, SECRET_VALUES_LOGGED, [o for o in outcomes if _leaks_secret(o)]),
        *_per_rule(
            policy,
            path,
            CONFIGMAP_VALUES_LOGGED,
            [o for o in outcomes if o.target == sim.CONFIGMAPS and _leaks_values(o)],
        ),
        *_per_rule(policy, path, EXEC_NOT_LOGGED, [o for o in outcomes if _exec_unlogged(o)]),
        *_omit_stages(policy, path, outcomes),
        *_catch_all(policy, path),
    ]


def _read_unlogged(o: sim.Outcome) -> bool:
    return o.target == sim.SECRETS and o.request.verb in sim.READ_VERBS and o.level == "None"


def _complete_kept(o: sim.Outcome) -> bool:
    return "ResponseComplete" not in o.omit


def _leaks_values(o: sim.Outcome) -> bool:
    """A body with the object's data is written: RequestResponse, or Request for writes."""
    if not _complete_kept(o):
        return False
    if o.level == "RequestResponse":
        return o.request.verb in _VALUE_VERBS
    return o.level == "Request" and o.request.verb in sim.WRITE_VERBS


def _leaks_secret(o: sim.Outcome) -> bool:
    if o.target == sim.SECRETS:
        return _leaks_values(o)
    if o.request.verb != "create" or not _complete_kept(o):
        return False
    if o.target == sim.TOKENREVIEWS:  # the request body holds the bearer token
        return o.level in ("Request", "RequestResponse")
    # a TokenRequest's response holds the issued token
    return o.target == sim.SA_TOKEN and o.level == "RequestResponse"


def _sensitive_request(o: sim.Outcome) -> bool:
    if o.target in _CONNECT:
        return o.request.verb in ("get", "create")
    return o.target == sim.SA_TOKEN and o.request.verb == "create"


def _exec_unlogged(o: sim.Outcome) -> bool:
    return _sensitive_request(o) and o.level == "None"


def _decider(policy: Policy, rule: int | None) -> tuple[str, int]:
    if rule is None:
        return "no rule matches, so the default level None applies", policy.rules_line
    chosen = policy.rules[rule]
    return f"{chosen.label} matches first", chosen.line


def _scope(outcomes: Iterable[sim.Outcome]) -> dict[str, list[str]]:
    items = list(outcomes)
    labels = [i.label for i in sim.IDENTITIES if any(o.identity == i for o in items)]
    scoped = {o.request.namespace for o in items if o.target.namespaced}
    namespaces = sorted({namespace or "(all namespaces)" for namespace in scoped})
    return {
        "identities": labels,
        "requests": sorted({f"{o.request.verb} {o.target}" for o in items}),
        "namespaces": namespaces,
        "levels": sorted({o.level for o in items}),
    }


def _per_rule(
    policy: Policy, path: str, control: Control, outcomes: list[sim.Outcome]
) -> list[Finding]:
    by_rule: dict[int | None, list[sim.Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_rule[outcome.rule].append(outcome)
    findings = []
    for rule, items in sorted(by_rule.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
        decider, line = _decider(policy, rule)
        scope = _scope(items)
        where = f" in {', '.join(scope['namespaces'])}" if scope["namespaces"] else ""
        message = (
            f"{decider}: {', '.join(scope['requests'])}{where} at level "
            f"{'/'.join(scope['levels'])} for {', '.join(scope['identities'])}"
        )
        details = {"rule": rule, **scope}
        findings.append(Finding(control, message, Location(path, line), details=details))
    return findings


def _omit_problem(long_running: bool, omit: frozenset[str]) -> str | None:
    kept = sim.kept_stages(long_running, omit)
    if not kept:
        return "are not written to the log at all"
    if not kept & _OUTCOME_STAGES:
        return "keep only RequestReceived: no response code and no authorization decision"
    return None


def _omit_stages(policy: Policy, path: str, outcomes: list[sim.Outcome]) -> list[Finding]:
    groups: dict[int | None, list[tuple[sim.Outcome, str]]] = defaultdict(list)
    for o in outcomes:
        if o.level == "None" or not (o.target == sim.SECRETS or _sensitive_request(o)):
            continue
        problem = _omit_problem(o.long_running, o.omit)
        if problem is None:
            continue
        policy_wide = _omit_problem(o.long_running, frozenset(policy.omit_stages)) is not None
        groups[None if policy_wide else o.rule].append((o, problem))
    findings = []
    for rule, items in sorted(groups.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
        scope = _scope(o for o, _ in items)
        problems = sorted({problem for _, problem in items})
        omitted = sorted(set().union(*(o.omit for o, _ in items)))
        if rule is None:
            where, line = "the policy-wide omitStages", policy.omit_stages_line
        else:
            where, line = f"the omitStages of {policy.rules[rule].label}", policy.rules[rule].line
        message = (
            f"{where} ({', '.join(omitted)}): {', '.join(scope['requests'])} "
            f"{' or '.join(problems)}"
        )
        details = {"rule": rule, "omitStages": omitted, **scope}
        findings.append(Finding(OMIT_STAGES, message, Location(path, line), details=details))
    for i, stage in enumerate(policy.omit_stages):
        if stage not in STAGES:
            line = policy.omit_stage_lines[i] if i < len(policy.omit_stage_lines) else 1
            findings.append(
                Finding(
                    OMIT_STAGES,
                    f"omitStages[{i}]: not a stage name, so kube-apiserver ignores it (valid: "
                    f"{', '.join(STAGES)})",
                    Location(path, line),
                    details={"field": f"omitStages[{i}]"},
                )
            )
    return findings


def _catch_all(policy: Policy, path: str) -> list[Finding]:
    catch = next((rule for rule in policy.rules if rule.catch_all), None)
    if catch is None:
        message = (
            "no rule matches every request: anything the rules do not name is not logged "
            "(default level None); end with a catch-all such as `- level: Metadata`"
        )
        return [Finding(NO_CATCH_ALL, message, Location(path, policy.rules_line))]
    later = [rule for rule in policy.rules if rule.index > catch.index]
    if not later:
        return []
    dead = ", ".join(f"rules[{rule.index}] (line {rule.line})" for rule in later)
    message = f"{catch.label} matches every request, so these rules never match: {dead}"
    details = {"rule": catch.index, "unreachable": [rule.index for rule in later]}
    return [Finding(NO_CATCH_ALL, message, Location(path, catch.line), details=details)]
