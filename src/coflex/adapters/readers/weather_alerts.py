"""Weather watches and warnings from the US National Weather Service.

Two forms are read, both published by the NWS for every alert it issues:

- the GeoJSON ``FeatureCollection`` of the NWS API (``/alerts/active``), whose
  features carry ``event``, ``severity``, ``onset`` and ``ends`` or ``expires``
  in ``properties`` and the warned area as a ``Polygon`` or ``MultiPolygon``;
- OASIS Common Alerting Protocol 1.2 XML: one ``<alert>``, or an Atom feed of
  them, with ``<info>`` blocks whose ``<area>`` gives ``<polygon>`` ("lat,lon"
  pairs) or ``<circle>`` ("lat,lon radius_km").

Zone-based alerts (heat, cold and winter storms are usually issued for forecast
zones, not polygons) carry no geometry, only UGC zone codes. coflex does not hold
zone boundaries, so such an alert locates no site; the caller reports it as
unlocated rather than dropping it in silence.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from coflex.domain.operations.weather_alerts import Circle, WeatherAlert
from coflex.errors import InputError

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"


class WeatherAlertError(InputError):
    code = "invalid_weather_alerts"


def read_weather_alerts(path: Path) -> list[WeatherAlert]:
    """Read NWS alerts from a GeoJSON or CAP 1.2 XML file.

    Only alerts with ``status`` Actual that are not ``Cancel`` messages are
    returned, so tests, exercises and cancellations hold no device back.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WeatherAlertError(
            f"weather alerts file {path} does not exist; give the path of an NWS "
            "alerts GeoJSON or CAP 1.2 XML file"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise WeatherAlertError(
            f"weather alerts file {path} cannot be read ({error}); give a UTF-8 "
            "NWS alerts GeoJSON or CAP 1.2 XML file"
        ) from None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        alerts = _from_geojson(path, stripped)
    elif stripped.startswith("<"):
        alerts = _from_cap(path, stripped)
    else:
        raise WeatherAlertError(
            f"weather alerts file {path} is neither JSON nor XML; give an NWS alerts "
            "GeoJSON (api.weather.gov/alerts) or CAP 1.2 XML file"
        )
    return [a for a in alerts if a.status == "Actual" and a.message_type != "Cancel"]


def _from_geojson(path: Path, text: str) -> list[WeatherAlert]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise WeatherAlertError(
            f"weather alerts file {path} is not valid JSON at line {error.lineno}: "
            f"{error.msg}; give an NWS alerts GeoJSON file"
        ) from None
    if not isinstance(document, dict):
        raise WeatherAlertError(
            f"weather alerts file {path} contains a JSON {type(document).__name__}, not a "
            "GeoJSON FeatureCollection; give the NWS API's /alerts response"
        )
    if document.get("type") == "Feature":
        features = [document]
    elif document.get("type") == "FeatureCollection":
        features = document.get("features")
    else:
        features = None
    if not isinstance(features, list):
        raise WeatherAlertError(
            f"weather alerts file {path} has no GeoJSON FeatureCollection of alerts "
            f"(type {document.get('type')!r}); give the NWS API's /alerts response"
        )
    return [_feature(path, n, feature) for n, feature in enumerate(features)]


def _feature(path: Path, n: int, feature: object) -> WeatherAlert:
    where = f"weather alerts file {path}, feature {n}"
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise WeatherAlertError(f"{where} has no properties object; each NWS alert has one")
    props = feature["properties"]
    geometry = feature.get("geometry")
    polygons: list[tuple[tuple[float, float], ...]] = []
    if isinstance(geometry, dict):
        try:
            rings = _geometry_rings(where, geometry)
            # GeoJSON positions are [longitude, latitude] (RFC 7946, section 3.1.1).
            polygons = [
                tuple((_coordinate(p[1]), _coordinate(p[0])) for p in ring)
                for ring in rings
            ]
        except (TypeError, ValueError, IndexError):
            raise WeatherAlertError(
                f"{where} has polygon coordinates that are not [longitude, latitude] "
                "number pairs; give each ring as a list of such pairs"
            ) from None
    ends = props.get("ends") or props.get("expires")
    onset = props.get("onset") or props.get("effective") or props.get("sent")
    geocode = props.get("geocode")
    zones = geocode.get("UGC", []) if isinstance(geocode, dict) else []
    return _checked(where, WeatherAlert(
        identifier=str(props.get("id") or feature.get("id") or f"feature-{n}"),
        event=_required(where, props, "event"),
        severity=str(props.get("severity") or "Unknown"),
        onset=_time(where, "onset", onset),
        ends=_time(where, "ends", ends),
        status=str(props.get("status") or "Actual"),
        message_type=str(props.get("messageType") or "Alert"),
        polygons=tuple(polygons),
        zones=frozenset(str(z) for z in zones),
    ))


def _coordinate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(value)
    return float(value)


def _checked(where: str, alert: WeatherAlert) -> WeatherAlert:
    if alert.ends <= alert.onset:
        raise WeatherAlertError(
            f"{where} ends at {alert.ends.isoformat()}, not after its onset "
            f"{alert.onset.isoformat()}; check the alert's times"
        )
    return alert


def _geometry_rings(where: str, geometry: dict) -> list[list]:
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Polygon" and isinstance(coordinates, list):
        return coordinates[:1]  # the outer ring; warned areas have no holes
    if kind == "MultiPolygon" and isinstance(coordinates, list):
        return [polygon[0] for polygon in coordinates if polygon]
    raise WeatherAlertError(
        f"{where} has a {kind!r} geometry; NWS alerts use Polygon or MultiPolygon"
    )


def _from_cap(path: Path, text: str) -> list[WeatherAlert]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise WeatherAlertError(
            f"weather alerts file {path} is not well-formed XML ({error}); give a CAP "
            "1.2 alert or an Atom feed of them"
        ) from None
    alerts = list(root.iter(f"{{{CAP_NAMESPACE}}}alert"))
    if root.tag == f"{{{CAP_NAMESPACE}}}alert":
        alerts = [root]
    if not alerts:
        raise WeatherAlertError(
            f"weather alerts file {path} contains no CAP 1.2 <alert> (namespace "
            f"{CAP_NAMESPACE}); give a CAP 1.2 file"
        )
    out = []
    for alert in alerts:
        out.extend(_cap_alert(path, alert))
    return out


def _cap_alert(path: Path, alert: ET.Element) -> Iterable[WeatherAlert]:
    def text(element: ET.Element, name: str) -> str | None:
        child = element.find(f"{{{CAP_NAMESPACE}}}{name}")
        return child.text.strip() if child is not None and child.text else None

    identifier = text(alert, "identifier") or "unidentified"
    where = f"weather alerts file {path}, alert {identifier}"
    sent = text(alert, "sent")
    for info in alert.findall(f"{{{CAP_NAMESPACE}}}info"):
        polygons: list[tuple[tuple[float, float], ...]] = []
        circles: list[Circle] = []
        zones: set[str] = set()
        for area in info.findall(f"{{{CAP_NAMESPACE}}}area"):
            for polygon in area.findall(f"{{{CAP_NAMESPACE}}}polygon"):
                polygons.append(_cap_polygon(where, polygon.text or ""))
            for circle in area.findall(f"{{{CAP_NAMESPACE}}}circle"):
                circles.append(_cap_circle(where, circle.text or ""))
            for geocode in area.findall(f"{{{CAP_NAMESPACE}}}geocode"):
                if text(geocode, "valueName") == "UGC":
                    zones.update((text(geocode, "value") or "").split())
        event = text(info, "event")
        if event is None:
            raise WeatherAlertError(f"{where} has an <info> without <event>")
        yield _checked(where, WeatherAlert(
            identifier=identifier,
            event=event,
            severity=text(info, "severity") or "Unknown",
            onset=_time(where, "onset", text(info, "onset") or text(info, "effective") or sent),
            ends=_time(where, "expires", text(info, "expires")),
            status=text(alert, "status") or "Actual",
            message_type=text(alert, "msgType") or "Alert",
            polygons=tuple(polygons),
            circles=tuple(circles),
            zones=frozenset(zones),
        ))


def _cap_polygon(where: str, value: str) -> tuple[tuple[float, float], ...]:
    # CAP 1.2, section 3.2.4: space-separated "lat,lon" pairs, first equals last.
    try:
        points = tuple(
            (float(lat), float(lon))
            for lat, lon in (pair.split(",") for pair in value.split())
        )
    except ValueError:
        raise WeatherAlertError(
            f"{where} has a polygon {value[:60]!r} that is not 'lat,lon' pairs"
        ) from None
    if len(points) < 4 or points[0] != points[-1]:
        raise WeatherAlertError(
            f"{where} has a polygon of {len(points)} points that is not closed; CAP "
            "1.2 asks for at least four pairs with the first equal to the last"
        )
    return points


def _cap_circle(where: str, value: str) -> Circle:
    try:
        centre, radius = value.split()
        lat, lon = centre.split(",")
        return Circle(float(lat), float(lon), float(radius))
    except ValueError:
        raise WeatherAlertError(
            f"{where} has a circle {value!r}; CAP 1.2 writes 'lat,lon radius_km'"
        ) from None


def _required(where: str, props: dict, name: str) -> str:
    value = props.get(name)
    if not isinstance(value, str) or not value:
        raise WeatherAlertError(f"{where} has no {name!r}; every NWS alert names one")
    return value


def _time(where: str, name: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise WeatherAlertError(
            f"{where} has no {name} time; an alert without an end cannot be applied"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise WeatherAlertError(
            f"{where} has {name} {value!r}, not an ISO 8601 time with its offset"
        ) from None
    if parsed.tzinfo is None:
        raise WeatherAlertError(
            f"{where} has {name} {value!r} without a UTC offset; CAP 1.2 times carry one"
        )
    return parsed.astimezone(UTC)
