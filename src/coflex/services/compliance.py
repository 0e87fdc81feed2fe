"""The compliance engine: each provision of the Code, its checks and their evidence.

It also generates the compliance plan from the running configuration (program
terms, jurisdiction policies, registrations, retention rules) and compares
it with the plan last filed with the regulator (Code section E, Reporting).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

import coflex
from coflex.errors import InputError
from coflex.adapters.store import models as m
from coflex.adapters.store.models_governance import CompliancePlan, Registration
from coflex.domain.administration import retention
from coflex.domain.administration.policy import POLICIES
from coflex.domain.governance.provisions import PROVISIONS
from coflex.services import audit
from coflex.services.compliance_checks import CHECKS, CheckResult


def configuration(session: Session) -> dict[str, Any]:
    """Collect the configuration a compliance plan describes."""
    jurisdictions = sorted(set(session.scalars(select(m.Aggregator.jurisdiction))))
    programs = session.execute(
        select(m.Program.name, m.Program.terms_hash, m.Program.terms).order_by(
            m.Program.id
        )
    ).all()
    registrations = session.scalars(select(Registration).order_by(Registration.id))
    return {
        "programs": [
            {"name": name, "terms_hash": digest, "terms": terms}
            for name, digest, terms in programs
        ],
        "jurisdictions": [
            POLICIES[j].to_json() if j in POLICIES else {"jurisdiction": j}
            for j in jurisdictions
        ],
        "registrations": [
            {
                "jurisdiction": r.jurisdiction,
                "authority": r.authority,
                "number": r.number,
                "expires_at": audit.iso(r.expires_at),
            }
            for r in registrations
        ],
        "retention": {
            "floor_years": retention.FLOOR_YEARS,
            "contract_tail_years": retention.CONTRACT_TAIL_YEARS,
        },
        "audit_log": "SHA-256 hash chain over canonical JSON rows",
    }


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(audit.canonical_json(config).encode()).hexdigest()


def controls(session: Session) -> dict[str, list[str]]:
    """List the automated control behind each provision, by its description."""
    found = {
        key: [r.description for r in check(session)] for key, check in CHECKS.items()
    }
    found["E.reporting"] = [
        "the filed compliance plan matches the running configuration"
    ]
    return found


def plan_document(config: dict[str, Any], described: dict[str, list[str]]) -> str:
    """Write the compliance plan: each provision, its controls and the parameters.

    The same configuration and controls always give the same document.
    """
    lines = [f"# Compliance plan (configuration {config_hash(config)[:16]})", ""]
    for provision in PROVISIONS:
        lines.append(f"## {provision.section}. {provision.heading}")
        lines.append(provision.requirement)
        lines.append("")
        lines.extend(f"- control: {text}" for text in described[provision.key])
        lines.append("")
    lines.append("## Parameters")
    lines.append("```json")
    lines.append(json.dumps(config, indent=2, sort_keys=True))
    lines.append("```")
    return "\n".join(lines) + "\n"


def file_plan(session: Session, by: str, at: datetime) -> CompliancePlan:
    """Store the plan generated from the running configuration as filed."""
    config = configuration(session)
    plan = CompliancePlan(
        filed_at=at,
        filed_by=by,
        config_hash=config_hash(config),
        configuration=config,
        document=plan_document(config, controls(session)),
    )
    session.add(plan)
    session.flush()
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="compliance_plan_filed",
                subject=f"compliance_plan:{plan.id}",
                details={"config_hash": plan.config_hash},
                actor=by,
            )
        ],
    )
    return plan


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def drift(session: Session) -> dict[str, Any]:
    """Compare the running configuration with the last filed plan; list the changes."""
    filed = session.scalars(
        select(CompliancePlan).order_by(CompliancePlan.id.desc()).limit(1)
    ).first()
    current = configuration(session)
    if filed is None:
        return {"filed": False, "drift": True, "changes": ["no plan has been filed"]}
    before, after = _flatten(filed.configuration), _flatten(current)
    changes = [
        f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    return {
        "filed": True,
        "filed_at": audit.iso(filed.filed_at),
        "filed_hash": filed.config_hash,
        "current_hash": config_hash(current),
        "drift": bool(changes),
        "changes": changes,
    }


def _status(results: list[CheckResult]) -> str:
    automated = [r for r in results if r.status != "not_automated"]
    if not automated:
        return "not_covered"
    if any(r.status == "fail" for r in automated):
        return "fail"
    if sum(r.evidence for r in automated) == 0:
        return "no_evidence"
    return "pass"


def evaluate(session: Session, at: datetime) -> dict[str, Any]:
    """Run every check and return the report: one entry per provision."""
    plan = drift(session)
    entries = []
    for provision in PROVISIONS:
        results = CHECKS[provision.key](session)
        if provision.key == "E.reporting":
            results = [
                CheckResult(
                    "filed_plan_matches_configuration",
                    "the filed compliance plan matches the running configuration",
                    "fail" if plan["drift"] else "pass",
                    1 if plan["filed"] else 0,
                    len(plan["changes"]),
                )
            ]
        entries.append(
            {
                "provision": provision.key,
                "section": provision.section,
                "heading": provision.heading,
                "requirement": provision.requirement,
                "status": _status(results),
                "checks": [r.to_json() for r in results],
                "evidence": sum(r.evidence for r in results),
            }
        )
    return {
        "generated_at": audit.iso(at),
        "coflex_version": coflex.__version__,
        "plan": plan,
        "provisions": entries,
    }


def write_report(report: dict[str, Any], output: Path) -> tuple[Path, Path]:
    """Write ``compliance.json`` and ``compliance.html`` to ``output``.

    Raises
    ------
    InputError
        If ``output`` exists and is not a folder.
    """
    if output.exists() and not output.is_dir():
        raise InputError(
            f"--output {output} is a file, not a folder: give a folder for "
            "compliance.json and compliance.html",
            value=str(output),
            field="output",
        )
    output.mkdir(parents=True, exist_ok=True)
    json_path, html_path = output / "compliance.json", output / "compliance.html"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    env = Environment(
        loader=PackageLoader("coflex.reports", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    html = env.get_template("compliance.html").render(report=report)
    html_path.write_text(html, encoding="utf-8")
    return json_path, html_path
