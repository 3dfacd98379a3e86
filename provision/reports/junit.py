"""The rehearsal's record as JUnit XML, so CI systems show each step and claim as a test."""

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from provision.reports.record import Figures, Finding, Load, Report, Status, StepResult, Verdict, write_atomically

# Characters XML 1.0 cannot carry at all (terminal escapes from apt, NULs); ElementTree would emit
# them verbatim and every JUnit consumer would then reject the whole file.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _outputs(step: StepResult) -> str:
    """What a CI reader needs to see why the step failed: the commands that did not exit 0."""
    failing = [c for c in step.commands if c.exit_code != 0] or step.commands
    parts = [f"$ {c.command}\n[exit {c.exit_code}{', ' + c.cite if c.cite else ''}]\n{c.output_tail}" for c in failing]
    if step.service_log:
        parts.append(f"the service's own log:\n{step.service_log}")
    parts += [f"{name}:\n{text}" for name, text in step.logs.items()]
    return "\n\n".join(parts)


def _case(suite: ET.Element, classname: str, name: str, seconds: float) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=_clean(name), time=f"{seconds:.3f}")


def _evidence(finding: Finding) -> str:
    return "\n\n".join(
        f"$ {c.command}\n[exit {c.exit_code}, {c.seconds:g} s]\n{c.output_tail}" for c in finding.evidence
    )


def _fault_case(suite: ET.Element, finding: Finding) -> int:
    """A fault of `rehearse faults`: a finding is a verdict on the tutorial, not a failure of the test,
    so it travels as properties; only a fault the harness could not run is an error (then 1, for the count)."""
    case = _case(suite, "fault", f"{finding.id}: {finding.question}", finding.seconds)
    _properties(
        case, [(key, value) for key in ("verdict", "expected", "observed", "fix") if (value := getattr(finding, key))]
    )
    errored = finding.verdict == Verdict.ERROR
    if errored:
        ET.SubElement(case, "error", message=_clean(finding.error or "the fault could not run"))
    if finding.evidence:
        ET.SubElement(case, "system-out").text = _clean(_evidence(finding))
    return int(errored)


def _properties(parent: ET.Element, pairs: Iterable[tuple[str, object]]) -> None:
    """A <properties> element under `parent`, a <property> per (name, value); a name may repeat."""
    properties = ET.SubElement(parent, "properties")
    for name, value in pairs:
        ET.SubElement(properties, "property", name=name, value=_clean(str(value)))


def _figures(f: Figures) -> dict[str, object]:
    errors = {f"socket_errors_{kind}": n for kind, n in f.socket_errors.items()}
    return {
        "connections": f.connections, "requests_per_second": f.rps, "2xx_per_second": f.served_rps,
        "p50_ms": f.p50_ms, "p95_ms": f.p95_ms,
        "p99_ms": f.p99_ms, "requests": f.requests, "non_2xx": f.non_2xx, **errors, "capped": str(f.capped).lower(),
    }  # fmt: skip


def _load_cases(suite: ET.Element, load: Load) -> int:
    """`rehearse load`: a testcase per run with its figures as properties (errors under load are a
    finding about the deploy, not a failed test), the knee and the socket claim as properties of their
    own; only a load that could not run is an error (then 1, for the count)."""
    for f in load.levels:
        case = _case(suite, "load", f"{f.connections} connections", f.seconds)
        knee = {"knee": load.knee_why, "knee_evidence": "\n".join(load.knee_evidence)}
        _properties(case, (_figures(f) | (knee if f.connections == load.knee else {})).items())
    for i, r in enumerate(load.rounds, 1):
        case = _case(suite, "load.socket", f"round {i}: {r.socket} {r.address}", r.figures.seconds)
        _properties(case, ({"socket": r.socket, "address": r.address} | _figures(r.figures)).items())
    if load.claim:
        claim = _case(suite, "load.claim", "the unix socket is faster than TCP (step 6.2)", 0.0)
        _properties(claim, [("verdict", load.claim), ("figures", load.claim_why), ("restored", load.restored)])
    if not load.error:
        return 0
    ET.SubElement(_case(suite, "load", "the load run", load.seconds), "error", message=_clean(load.error))
    return 1


def junit_suite(report: Report) -> ET.Element:
    """One testsuite `rehearsal.<platform>.<mode>`: a testcase per step, then one per claim, then one
    per fault injected after the rehearsal."""
    suite = ET.Element("testsuite", name=f"rehearsal.{report.platform}.{report.mode}", time=f"{report.seconds:.3f}")
    if report.started:
        suite.set("timestamp", report.started)
    keys = ("platform", "mode", "target", "status", "log", "http_url", "screenshot", "previous")
    facts: list[tuple[str, object]] = [(key, value) for key in keys if (value := getattr(report, key))]
    facts += [("cache", cache) for cache in report.caches]
    facts += [("tutorial", report.tutorial)] if report.tutorial else []
    facts += [(name, c) for name, commands in (("added", report.added), ("dropped", report.dropped)) for c in commands]
    _properties(suite, facts)

    failures = skipped = errors = 0
    for step in report.steps:
        case = _case(suite, "step", f"{step.id} {step.title}", step.seconds)
        if step.cite:
            _properties(case, [("cite", step.cite)])
        if step.status == Status.FAILED:
            failures += 1
            message = step.error or "step failed"
            message = f"{step.where}: {message}" if step.cite else message
            ET.SubElement(case, "failure", message=_clean(message)).text = _clean(_outputs(step))
        elif step.status == Status.NOT_REACHED:
            skipped += 1
            ET.SubElement(case, "skipped", message="not reached: an earlier step failed")
        elif step.status in (Status.RUNNING, Status.INTERRUPTED):
            errors += 1
            ET.SubElement(case, "error", message=step.error or "killed while this step ran").text = _clean(
                _outputs(step)
            )
    for step in report.steps:
        for claim in step.claims:
            case = _case(suite, f"claim.{step.id}", f"{claim.id}: {claim.text}", 0.0)
            if not claim.passed:
                failures += 1
                detail = _clean(claim.detail)
                ET.SubElement(case, "failure", message=detail or "claim did not hold").text = detail
    errors += sum(_fault_case(suite, f) for f in report.findings)
    if report.load_run is not None:
        errors += _load_cases(suite, report.load_run)

    tests = sum(1 for _ in suite.iter("testcase"))
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    return suite


def xml_text(root: ET.Element) -> str:
    """`root` as a whole XML document, indented."""
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_junit(report: Report) -> str:
    return xml_text(junit_suite(report))


def write_junit(report: Report, path: Path) -> Path:
    """Write `render_junit(report)` to `path` and return it."""
    return write_atomically(path, render_junit(report))
