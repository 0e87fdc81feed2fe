"""Customer pages on automation: how devices are controlled, and every command sent.

Under the Code of Conduct's automation-transparency provision, customers are
told which devices are controlled, how, within which limits and how to override.
The plain-language document is generated per customer when an event is
planned; these pages serve its latest version and the history of commands.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from coflex.adapters.store.models import Device, DeviceCommand, Site
from coflex.adapters.store.models_operations import AutomationDocument
from coflex.entrypoints.web.pages_customer import DEVICE_LABELS
from coflex.entrypoints.web.security import PageUser, page_roles, session_factory
from coflex.entrypoints.web.templating import templates
from coflex.services.accounts import NotFound, Role

router = APIRouter(prefix="/portal")
CustomerUser = Annotated[PageUser, Depends(page_roles(Role.CUSTOMER))]
# The number of newest commands shown. A season's events send a few hundred
# commands per home; older ones are in the customer's data export.
COMMAND_PAGE_LIMIT = 500
ACTION_LABELS = {"curtail": "Reduce use", "restore": "Hand back to you"}


@router.get("/automation", response_class=HTMLResponse)
def automation(request: Request, user: CustomerUser) -> Response:
    """Return the latest plain-language account of how the devices are controlled."""
    with session_factory(request)() as session:
        document = session.scalars(
            select(AutomationDocument)
            .where(AutomationDocument.customer_id == user.principal.customer_id)
            .order_by(AutomationDocument.issued_at.desc(), AutomationDocument.id.desc())
            .limit(1)
        ).first()
    if document is None:
        raise NotFound(
            "no account of your devices' control has been issued yet: it comes with "
            "your first event",
            field="customer",
        )
    return HTMLResponse(document.html)


@router.get("/commands", response_class=HTMLResponse)
def commands(request: Request, user: CustomerUser) -> Response:
    """List the commands sent to the customer's devices, newest first."""
    with session_factory(request)() as session:
        rows = session.execute(
            select(DeviceCommand, Device.kind, Site.timezone)
            .join(Device, Device.id == DeviceCommand.device_id)
            .join(Site, Site.id == Device.site_id)
            .where(Site.customer_id == user.principal.customer_id)
            .order_by(DeviceCommand.issued_at.desc(), DeviceCommand.id.desc())
            .limit(COMMAND_PAGE_LIMIT)
        ).all()
    entries = [
        {
            "command": command,
            "device": DEVICE_LABELS.get(kind, kind),
            "action": ACTION_LABELS.get(command.action, command.action),
            "timezone": zone,
        }
        for command, kind, zone in rows
    ]
    return templates.TemplateResponse(
        request,
        "portal-commands.html",
        {"user": user, "entries": entries, "limit": COMMAND_PAGE_LIMIT},
    )
