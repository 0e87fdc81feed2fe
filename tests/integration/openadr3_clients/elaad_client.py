"""Drive ElaadNL openadr3-client 2.4.2 against the coflex VTN; print one JSON line.

Usage: python elaad_client.py BASE_URL CLIENT_ID SECRET VEN_NAME PHASE CA_FILE
PHASE is ``register`` or ``read``. The token request of this client does not
take the CA path, so the caller also sets REQUESTS_CA_BUNDLE.
"""

import json
import sys
from pathlib import Path

from openadr3_client._models.common.interval import Interval
from openadr3_client.oadr310.models.report.report import NewReport, ReportResource
from openadr3_client.oadr310.models.report.report_payload import (
    ReportPayload,
    ReportPayloadType,
)
from openadr3_client.oadr310.models.ven.ven import NewVenVenRequest
from openadr3_client.ven.http_factory import VirtualEndNodeHttpClientFactory
from openadr3_client.version import OADRVersion

base_url, client_id, secret, ven_name, phase, ca_file = sys.argv[1:7]
client = VirtualEndNodeHttpClientFactory.create_http_ven_client(
    vtn_base_url=base_url,
    client_id=client_id,
    client_secret=secret,
    verify_vtn_tls_certificate=Path(ca_file),
    version=OADRVersion.OADR_310,
)
result = {}
if phase == "register":
    ven = client.vens.create_ven(NewVenVenRequest(ven_name=ven_name))
    result["ven_id"] = ven.id
else:
    programs = client.programs.get_programs(target=None, pagination=None)
    result["programs"] = [p.program_name for p in programs]
    events = client.events.get_events(target=None, pagination=None, program_id=None)
    result["events"] = [
        {
            "id": e.id,
            "start": e.interval_period.start.isoformat(),
            "duration": e.interval_period.duration.total_seconds(),
            "payloads": [
                {"type": str(p.type), "values": list(p.values)}
                for p in e.intervals[0].payloads
            ],
        }
        for e in events
    ]
    report = client.reports.create_report(
        NewReport(
            event_id=events[0].id,
            client_name=ven_name,
            resources=(
                ReportResource(
                    resource_name="battery",
                    intervals=(
                        Interval(
                            id=0,
                            payloads=(
                                ReportPayload(
                                    type=ReportPayloadType.OPERATING_STATE,
                                    values=("IDLE_OPTED_OUT",),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        )
    )
    result["report_id"] = report.id
    result["vens_seen"] = [
        v.ven_name
        for v in client.vens.get_vens(ven_name=None, target=None, pagination=None)
    ]
print(json.dumps(result))
