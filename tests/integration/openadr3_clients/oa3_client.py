"""Drive python-oa3-client 0.5.0 against the coflex VTN; print one JSON line.

Usage: python oa3_client.py BASE_URL CLIENT_ID SECRET VEN_NAME PHASE
PHASE is ``register`` or ``read``. The CA comes from SSL_CERT_FILE (httpx).
"""

import json
import sys

from openadr3_client import VenClient

base_url, client_id, secret, ven_name, phase = sys.argv[1:6]
client = VenClient(url=base_url, client_id=client_id, client_secret=secret).start()
client.register(ven_name)
result = {"ven_id": client.ven_id}
if phase == "read":
    result["programs"] = [p.program_name for p in client.programs()]
    events = client.get_events().json()
    result["events"] = [
        {
            "id": e["id"],
            "start": e["intervalPeriod"]["start"],
            "duration": e["intervalPeriod"]["duration"],
            "payloads": e["intervals"][0]["payloads"],
        }
        for e in events
    ]
    parsed = client.events()
    result["parsed_start"] = [str(e.interval_period.start) for e in parsed]
    event = events[0]
    report = client.create_report(
        {
            "eventID": event["id"],
            "clientName": ven_name,
            "resources": [
                {
                    "resourceName": "thermostat",
                    "intervals": [
                        {
                            "id": 0,
                            "payloads": [
                                {
                                    "type": "OPERATING_STATE",
                                    "values": ["RUNNING_OPTED_OUT"],
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )
    result["report_status"] = report.status_code
    result["vens_seen"] = [v["venName"] for v in client.get_vens().json()]
    result["reports_seen"] = [r["clientName"] for r in client.get_reports().json()]
client.stop()
print(json.dumps(result))
